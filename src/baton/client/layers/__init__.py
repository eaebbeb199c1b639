"""The client's layers, one per module; :mod:`baton.client.chain` states their order."""
