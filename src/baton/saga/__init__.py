"""baton.saga"""
