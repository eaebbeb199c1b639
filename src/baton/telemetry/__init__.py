"""baton.telemetry"""
