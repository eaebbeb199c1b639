"""baton.discovery"""
