"""Alembic environment of the saga tables (version table ``baton_saga_version``).

Runs on a connection handed over in ``config.attributes["connection"]`` (how ``baton.kit.db.migrate`` and
tests call it) or, failing that, on ``sqlalchemy.url`` (sync or async URL).
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from baton.saga.tables import metadata

VERSION_TABLE = "baton_saga_version"

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=config.attributes.get("version_table", VERSION_TABLE),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("saga migrations need config.attributes['connection'] or sqlalchemy.url")
    if sa.engine.make_url(url).get_dialect().is_async:
        asyncio.run(_run_async(url))
        return
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


_main()
