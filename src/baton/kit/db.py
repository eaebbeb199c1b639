"""A service's own database: SQLAlchemy 2 async engine, sessions and transactions.

By default a SQLite file under ``<BATON_HOME>/data/<service>.db`` (``sqlite+aiosqlite``), tuned for a
service that shares its file between replicas: WAL journal (readers never block the writer),
``busy_timeout`` (a writer waits for the lock instead of failing), ``synchronous=NORMAL`` (durable at each
checkpoint, safe with WAL) and foreign keys on. At scale the URL points at PostgreSQL
(``postgresql+asyncpg://...``) and nothing else changes.

SQLite has one writer at a time, and its busy handler waits for the file lock by sleeping in steps of up to
100 ms: with many concurrent writers in one process a transaction could wait 0.2–1.5 s for a lock freed long
before, and fail with ``database is locked`` after ``busy_timeout``. So every SQLite engine made here also gets
a *writer queue*: a transaction's first write statement (the one pysqlite opens the transaction for) first
takes an ``asyncio.Lock`` of the engine, held until the transaction commits or rolls back. In-process writers
then queue FIFO on the event loop and are handed the file lock the moment it is free; only writers in *other*
processes (a second replica on the same file) still meet in the busy handler. Reads never queue (WAL). The
queue applies to everything on the engine — ``transaction()``, sessions, ``engine.begin()`` — and nothing is
added on PostgreSQL, whose row locks need no help.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_, in_greenlet

from baton.errors import StoreError

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "create_engine", "is_sqlite", "session_factory", "transaction"]

#: How long a SQLite writer waits for the file lock before failing (ms); also the longest wait in the queue.
SQLITE_BUSY_TIMEOUT_MS = 5_000

# The statements before which pysqlite opens a transaction (Python 3.11's legacy transaction control): the
# first of them in a transaction is where the file's write lock is taken, so it is where the queue is joined.
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_HELD = "baton_writer_lock"


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


class _WriterQueue:
    """The in-process FIFO of an engine's SQLite write transactions (one ``asyncio.Lock`` per event loop)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before_execute)
        for name in ("checkin", "invalidate", "soft_invalidate", "close"):
            # A connection that goes back to the pool, or dies, mid-transaction must not keep the queue.
            event.listen(engine.pool, name, self._on_pool_event)
        dialect = engine.dialect
        # Released *after* the DBAPI commit/rollback returns (the engine's commit event fires before it):
        # releasing earlier would hand the next writer a file lock still held, i.e. the busy handler again.
        # Per dialect instance, which belongs to this engine only.
        dialect.do_commit = self._releasing(dialect.do_commit)  # type: ignore[method-assign,assignment]
        dialect.do_rollback = self._releasing(dialect.do_rollback)  # type: ignore[method-assign,assignment]

    def _before_execute(
        self, conn: Connection, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        info = conn.connection.record_info
        if info is None or _HELD in info or not _WRITE.match(statement) or not in_greenlet():
            return  # already queued in this transaction, a read, or sync use outside the async engine
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        await_(self._acquire(lock, statement))
        info[_HELD] = (loop, lock)

    async def _acquire(self, lock: asyncio.Lock, statement: str) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await lock.acquire()
        except TimeoutError:
            # The same error the busy handler gives, so callers treat both alike (StoreError, retryable).
            orig = sqlite3.OperationalError(f"database is locked (queued {self.timeout:g}s behind other writers)")
            raise OperationalError(statement, None, orig) from None

    def _releasing(self, finish: Callable[[Any], None]) -> Callable[[Any], None]:
        def finish_then_release(dbapi_connection: Any) -> None:
            try:
                finish(dbapi_connection)
            finally:
                _release(getattr(dbapi_connection, "record_info", None))

        return finish_then_release

    def _on_pool_event(self, _dbapi_connection: Any, record: Any, *_: Any) -> None:
        _release(getattr(record, "record_info", None))


def _release(info: dict[Any, Any] | None) -> None:
    held = info.pop(_HELD, None) if info is not None else None
    if held is None:
        return
    loop, lock = held
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        lock.release()
    elif not loop.is_closed():
        loop.call_soon_threadsafe(lock.release)  # a connection finalised from another thread (garbage collector)


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; SQLite files get their directory created, the pragmas and the writer queue.

    ``options`` go to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _WriterQueue(SQLITE_BUSY_TIMEOUT_MS / 1000).attach(engine.sync_engine)
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
