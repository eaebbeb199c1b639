"""A service's own database: SQLAlchemy 2 async engine, sessions and transactions.

By default a SQLite file under ``<BATON_HOME>/data/<service>.db`` (``sqlite+aiosqlite``), tuned for a
service that shares its file between replicas: WAL journal (readers never block the writer),
``busy_timeout`` (a writer waits for the lock instead of failing), ``synchronous=NORMAL`` (durable at each
checkpoint, safe with WAL) and foreign keys on. At scale the URL points at PostgreSQL
(``postgresql+asyncpg://...``) and nothing else changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from baton.errors import StoreError

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "create_engine", "is_sqlite", "session_factory", "transaction"]

#: How long a SQLite writer waits for the file lock before failing (ms).
SQLITE_BUSY_TIMEOUT_MS = 5_000


def is_sqlite(url: str) -> bool:
    """Whether ``url`` is a SQLite URL."""
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; SQLite files get their directory created and the pragmas above.

    ``options`` go to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # Connections die under a long-running service (failover, idle timeouts); check before handing out.
    options.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **options)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to ``engine``; objects stay readable after commit (no implicit reload round-trip)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@contextlib.asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session inside one transaction: committed when the block ends, rolled back if it raises.

    Raises:
        StoreError: the database is unreachable or locked (connection-level failures; retryable).
    """
    try:
        async with sessions() as session, session.begin():
            yield session
    except (OperationalError, InterfaceError) as exc:
        raise StoreError(f"database unavailable: {exc.orig or exc}") from exc
