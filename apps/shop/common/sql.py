"""Small SQL idioms the shop's services share, portable between SQLite and PostgreSQL.

They live in :mod:`baton.sql` (the saga engine's choreography tracker uses the same insert); this module keeps
the shop's import path.
"""

from __future__ import annotations

from baton.sql import insert_new

__all__ = ["insert_new"]
