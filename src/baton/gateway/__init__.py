"""baton.gateway"""
