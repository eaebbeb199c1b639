"""The shop: Baton's reference system."""
