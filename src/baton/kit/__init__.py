"""baton.kit"""
