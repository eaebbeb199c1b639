"""baton.balancing"""
