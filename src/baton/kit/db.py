"""A service's own database: SQLAlchemy 2 async engine, sessions and transactions.

By default a SQLite file under ``<BATON_HOME>/data/<service>.db`` (``sqlite+aiosqlite``), tuned for a
service that shares its file between replicas: WAL journal (readers never block the writer),
``busy_timeout`` (a writer waits for the lock instead of failing), ``synchronous=NORMAL`` (durable at each
checkpoint, safe with WAL) and foreign keys on. At scale the URL points at PostgreSQL
(``postgresql+asyncpg://...``) and nothing else changes.

**Statements run on the event loop's thread.** aiosqlite runs each SQLite call in a worker thread and hands
the result back through the loop: a ``SELECT`` through SQLAlchemy is 4–5 such round trips (cursor, execute,
fetch, close, the pool's reset), each a thread wake-up and a loop wake-up. A statement on a service's small
SQLite file takes microseconds, so the engines made here keep SQLAlchemy's ``sqlite+aiosqlite`` dialect but
give it a DBAPI whose calls run inline (:class:`_InlineSQLite`); ``bench/db_inline.py`` measures the CPU per
operation both ways in one run. The price: a slow statement (a scan of a large table) holds the loop while it runs —
keep queries indexed, or point the service at PostgreSQL. Pass ``inline=False`` for aiosqlite's threads.

SQLite has one writer at a time, and its busy handler waits for the file lock by sleeping in steps of up to
100 ms: with many concurrent writers in one process a transaction could wait 0.2–1.5 s for a lock freed long
before, and fail with ``database is locked`` after ``busy_timeout``. So every SQLite engine made here also gets
a *writer queue*: a transaction's first write statement (the one pysqlite opens the transaction for) first
takes an ``asyncio.Lock`` of the engine, held until the transaction commits or rolls back. In-process writers
then queue FIFO on the event loop and are handed the file lock the moment it is free. With inline statements the
queue then takes the file's write lock itself (``BEGIN IMMEDIATE`` without the busy handler, retried with
``asyncio.sleep`` between tries), so a writer in *another* process (a second replica on the same file) is
waited for without blocking the loop; with aiosqlite's threads that wait is SQLite's busy handler. Reads never
queue (WAL). The queue applies to everything on the engine — ``transaction()``, sessions, ``engine.begin()`` —
and nothing is added on PostgreSQL, whose row locks need no help.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
import types
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_, in_greenlet

from baton.errors import StoreError

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "create_engine", "is_sqlite", "queued_writers", "session_factory", "transaction"]

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


# --- inline SQLite: aiosqlite's interface, without its thread ----------------------------------------------


class _InlineCursor:
    """An aiosqlite-shaped cursor whose coroutines run the ``sqlite3`` call at once."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> _InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> _InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _InlineTx:
    """What SQLAlchemy's isolation-level setter puts work on (aiosqlite's queue): run it now."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class _InlineConnection:
    """An aiosqlite-shaped connection over a ``sqlite3`` connection used from the event loop's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        self._connector = connector
        self._conn: sqlite3.Connection | None = None
        self._tx = _InlineTx()
        self._thread = types.SimpleNamespace(daemon=True)  # SQLAlchemy marks aiosqlite's thread a daemon

    def __await__(self) -> Any:
        return self._open().__await__()

    async def _open(self) -> _InlineConnection:
        self._conn = self._connector()
        return self

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        assert self._conn is not None
        return self._conn.isolation_level

    def cursor(self) -> _InlineCursor:
        assert self._conn is not None
        return _InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        if self._conn is not None:
            self._conn.commit()

    async def rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def create_function(self, name: str, num_params: int, func: Callable[..., Any], **kw: Any) -> None:
        assert self._conn is not None
        self._conn.create_function(name, num_params, func, **kw)


class _InlineSQLite(types.ModuleType):
    """The ``aiosqlite`` module as SQLAlchemy's aiosqlite dialect uses it, running every call inline."""

    Connection = _InlineConnection
    __version__ = "inline"

    def __init__(self) -> None:
        super().__init__("baton_inline_sqlite")
        for name in (
            "DatabaseError",
            "Error",
            "IntegrityError",
            "NotSupportedError",
            "OperationalError",
            "ProgrammingError",
            "sqlite_version",
            "sqlite_version_info",
        ):
            setattr(self, name, getattr(sqlite3, name))

    @staticmethod
    def connect(database: Any, **kw: Any) -> _InlineConnection:
        # Opened, used and closed on the loop's thread; the garbage collector may close it from another.
        kw["check_same_thread"] = False
        return _InlineConnection(lambda: sqlite3.connect(database, **kw))


def _inline_dbapi() -> Any:
    return AsyncAdapt_aiosqlite_dbapi(_InlineSQLite(), sqlite3)  # type: ignore[arg-type]


def _sqlite3_of(dbapi_connection: Any) -> sqlite3.Connection | None:
    """The ``sqlite3`` connection under an inline DBAPI connection (``None`` for aiosqlite's)."""
    driver = getattr(dbapi_connection, "_connection", None)
    return driver._conn if isinstance(driver, _InlineConnection) else None


# --- the writer queue -----------------------------------------------------------------------------------------


class _WriterQueue:
    """The in-process FIFO of an engine's SQLite write transactions (one ``asyncio.Lock`` per event loop)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def waiting(self) -> int:
        """Transactions waiting in this queue now (all event loops)."""
        return sum(len(getattr(lock, "_waiters", None) or ()) for lock in list(self._locks.values()))

    def attach(self, engine: Engine) -> None:
        _queues[engine] = self
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
        started = time.monotonic()
        await_(self._acquire(lock, statement))
        info[_HELD] = (loop, lock)
        raw = _sqlite3_of(conn.connection.dbapi_connection)
        if raw is not None and not raw.in_transaction:
            await_(self._begin_immediate(raw, statement, started + self.timeout))

    @staticmethod
    async def _begin_immediate(raw: sqlite3.Connection, statement: str, deadline: float) -> None:
        # The file's write lock, taken without SQLite's busy handler (which would sleep on the loop's thread):
        # a writer in another process holding it is waited for here, asynchronously.
        delay = 0.001
        raw.execute("PRAGMA busy_timeout=0")
        try:
            while True:
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    if time.monotonic() + delay > deadline:
                        orig = sqlite3.OperationalError("database is locked (held by another connection)")
                        raise OperationalError(statement, None, orig) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
        finally:
            raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

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


_queues: weakref.WeakKeyDictionary[Engine, _WriterQueue] = weakref.WeakKeyDictionary()


def queued_writers(engine: AsyncEngine) -> int:
    """How many write transactions wait in ``engine``'s writer queue now (0 on PostgreSQL)."""
    queue = _queues.get(engine.sync_engine)
    return queue.waiting() if queue is not None else 0


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


def create_engine(url: str, *, inline: bool = True, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; SQLite files get their directory created, the pragmas and the writer queue.

    ``inline`` (SQLite through ``sqlite+aiosqlite`` only): run statements on the event loop's thread rather
    than in aiosqlite's worker threads (see the module's docstring). ``options`` go to
    :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if inline and parsed.get_driver_name() == "aiosqlite":
            options.setdefault("module", _inline_dbapi())
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
