"""baton.security"""
