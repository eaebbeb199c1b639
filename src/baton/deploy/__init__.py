"""baton.deploy"""
