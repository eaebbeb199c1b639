"""Fixtures of ``bench/checkout_floor.py`` (kept out of ``bench/*.py``, which ``make bench`` runs)."""
