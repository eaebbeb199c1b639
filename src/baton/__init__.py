"""Baton: run a system of Python microservices on real engines."""

__version__ = "0.1.0"
