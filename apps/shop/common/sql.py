"""Small SQL idioms the shop's services share, portable between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql

__all__ = ["insert_new"]


async def insert_new(session: AsyncSession, table: Table, values: Mapping[str, Any], *, unique: Sequence[str]) -> bool:
    """Insert a row unless one with the same ``unique`` columns exists; ``True`` when the row is new.

    ``INSERT ... ON CONFLICT DO NOTHING`` rather than select-then-insert: two transactions racing on the same
    key must not both believe they inserted it.
    """
    insert: Callable[[Table], sqlite.Insert | postgresql.Insert] = sqlite.insert
    if session.get_bind().dialect.name == "postgresql":
        # Imported here: a service on SQLite would otherwise carry the PostgreSQL dialect (~2 MB per instance).
        from sqlalchemy.dialects import postgresql

        insert = postgresql.insert
    statement = insert(table).values(**values).on_conflict_do_nothing(index_elements=list(unique))
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0) == 1)
