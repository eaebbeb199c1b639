"""baton.control"""
