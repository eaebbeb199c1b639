"""Portable SQL idioms shared by Baton's stores and by services: the same code on SQLite and PostgreSQL.

Each keeps the PostgreSQL dialect out of a process that runs on SQLite: importing
``sqlalchemy.dialects.postgresql`` costs an instance about 2 MB, so it is imported only where a PostgreSQL
engine asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator, TypeEngine

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["Json", "conflict_insert", "insert_new"]


class Json(TypeDecorator[Any]):
    """JSON on SQLite (and any other database), JSONB on PostgreSQL.

    ``sa.JSON().with_variant(JSONB(), "postgresql")`` says the same but needs the JSONB type (so the whole
    PostgreSQL dialect) at import time; this resolves it when a PostgreSQL dialect first compiles the column.
    """

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


def conflict_insert(dialect: str) -> Callable[[Table], sqlite.Insert | postgresql.Insert]:
    """The ``insert`` construct that takes ``ON CONFLICT``: PostgreSQL's on ``postgresql``, else SQLite's.

    Baton's databases are SQLite and PostgreSQL (``backends.db`` in ``baton.yaml``); only the asked-for
    dialect's module is imported.
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


async def insert_new(session: AsyncSession, table: Table, values: Mapping[str, Any], *, unique: Sequence[str]) -> bool:
    """Insert a row unless one with the same ``unique`` columns exists; ``True`` when the row is new.

    ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL rather than select-then-insert: two
    transactions racing on the same key must not both believe they inserted it.
    """
    insert = conflict_insert(session.get_bind().dialect.name)
    statement = insert(table).values(**values).on_conflict_do_nothing(index_elements=list(unique))
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0) == 1)
