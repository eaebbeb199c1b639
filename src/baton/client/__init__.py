"""baton.client"""
