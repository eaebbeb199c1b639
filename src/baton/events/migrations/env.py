"""Minimal Alembic environment for Baton's event tables (version table ``baton_events_version``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from baton.events.migrations import VERSION_TABLE


def _run(connection: Connection) -> None:
    context.configure(connection=connection, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _engine = create_engine(str(context.config.get_main_option("sqlalchemy.url")), poolclass=pool.NullPool)
    with _engine.begin() as _conn:
        _run(_conn)
