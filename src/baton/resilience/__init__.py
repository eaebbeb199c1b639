"""baton.resilience"""
