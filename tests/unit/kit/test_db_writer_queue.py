"""The SQLite writer queue of ``baton.kit.db.create_engine``: in-process writers queue FIFO instead of spinning
in SQLite's busy handler; reads never queue; a transaction that ends in any way frees the queue; a writer of
another engine (another replica) is waited for without blocking the loop; statements run on the loop's thread;
PostgreSQL has no queue at all."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from baton.errors import StoreError
from baton.kit import db
from baton.testing import wait_until

_metadata = sa.MetaData()
_rows = sa.Table(
    "queue_rows",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("writer", sa.Integer, nullable=False),
)


async def _engine(url: str) -> AsyncEngine:
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    return engine


@pytest.fixture
async def engine(tmp_path: Path):
    engine = await _engine(f"sqlite+aiosqlite:///{tmp_path}/queue.db")
    yield engine
    await engine.dispose()


async def _hold_write(engine: AsyncEngine, entered: asyncio.Event, leave: asyncio.Event, *, fail: bool = False):
    async with db.session_factory(engine)() as session, session.begin():
        await session.execute(sa.insert(_rows).values(writer=-1))
        entered.set()
        await leave.wait()
        if fail:
            raise RuntimeError("rolled back on purpose")


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(_rows)) or 0)


async def test_writers_commit_in_the_order_they_queued(engine: AsyncEngine) -> None:
    entered, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_write(engine, entered, leave))
    await entered.wait()
    sessions = db.session_factory(engine)
    committed: list[int] = []
    started: list[int] = []

    async def writer(n: int) -> None:
        async with db.transaction(sessions) as session:
            started.append(n)
            await session.execute(sa.insert(_rows).values(writer=n))
            await asyncio.sleep(0)  # the transaction's own awaits must not let another writer in
            await session.execute(sa.update(_rows).where(_rows.c.writer == n).values(writer=n))
        committed.append(n)

    writers = []
    for n in range(12):
        writers.append(asyncio.create_task(writer(n)))
        await wait_until(lambda n=n: n in started)  # joins the queue in this order
    leave.set()
    await asyncio.gather(holder, *writers)
    assert committed == list(range(12))
    assert await _count(engine) == 13


async def test_reads_do_not_queue_behind_a_writer(engine: AsyncEngine) -> None:
    entered, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_write(engine, entered, leave))
    await entered.wait()
    try:
        async with asyncio.timeout(2):
            assert await _count(engine) == 0  # WAL: the uncommitted row is invisible, and nothing waited
    finally:
        leave.set()
        await holder
    assert await _count(engine) == 1


@pytest.mark.parametrize("ending", ["rollback", "cancel"])
async def test_a_transaction_that_ends_badly_frees_the_queue(engine: AsyncEngine, ending: str) -> None:
    entered, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_write(engine, entered, leave, fail=True))
    await entered.wait()
    if ending == "cancel":
        holder.cancel()
    else:
        leave.set()
    with pytest.raises((RuntimeError, asyncio.CancelledError)):
        await holder
    async with asyncio.timeout(3):
        async with db.transaction(db.session_factory(engine)) as session:
            await session.execute(sa.insert(_rows).values(writer=1))
    assert await _count(engine) == 1  # the holder's row was rolled back


async def test_a_writer_queued_past_the_busy_timeout_fails_like_a_locked_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    engine = await _engine(f"sqlite+aiosqlite:///{tmp_path}/timeout.db")
    entered, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_write(engine, entered, leave))
    await entered.wait()
    try:
        with pytest.raises(StoreError, match="database is locked") as caught:
            async with db.transaction(db.session_factory(engine)) as session:
                await session.execute(sa.insert(_rows).values(writer=1))
        assert isinstance(caught.value.__cause__, OperationalError)
        assert caught.value.retryable
    finally:
        leave.set()
        await holder
        await engine.dispose()


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "aiosqlite-threads"])
async def test_a_second_engine_on_the_file_waits_for_the_file_lock_not_the_queue(
    engine: AsyncEngine, tmp_path: Path, inline: bool
) -> None:
    # Another replica is another process; a second engine stands for it: it has its own queue.
    other = db.create_engine(f"sqlite+aiosqlite:///{tmp_path}/queue.db", inline=inline)
    entered, leave = asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold_write(engine, entered, leave))
    await entered.wait()
    ticks = 0

    async def write_from_other() -> None:
        nonlocal ticks
        async with db.transaction(db.session_factory(other)) as session:
            await session.execute(sa.insert(_rows).values(writer=2))
            ticks = -1

    # Inline, it polls the file lock between sleeps; with threads it waits in SQLite's busy handler. Either
    # way the loop goes on: the holder can still commit, and this task keeps counting meanwhile.
    late = asyncio.create_task(write_from_other())
    while ticks < 5:
        await asyncio.sleep(0)
        ticks += 1
    assert not late.done()
    leave.set()
    await asyncio.gather(holder, late)
    assert await _count(engine) == 2
    await other.dispose()


async def test_statements_run_on_the_loops_thread_unless_asked_for_aiosqlite_threads(tmp_path: Path) -> None:
    ran_on: dict[bool, int] = {}
    for inline in (True, False):
        engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path}/threads-{inline}.db", inline=inline)
        # A SQL function reporting the thread SQLite runs it on.
        sa.event.listen(
            engine.sync_engine, "connect", lambda dbapi, _: dbapi.create_function("thread_id", 0, threading.get_ident)
        )
        async with engine.connect() as conn:
            ran_on[inline] = int(await conn.scalar(sa.text("SELECT thread_id()")) or 0)
        await engine.dispose()
    assert ran_on[True] == threading.get_ident()
    assert ran_on[False] not in (0, threading.get_ident())


@pytest.mark.scaleout
async def test_postgresql_writers_are_not_serialised(postgres_url: str) -> None:
    table = sa.Table(f"queue_{uuid.uuid4().hex[:8]}", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    engine = db.create_engine(postgres_url)
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    try:
        entered, leave = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with engine.begin() as conn:
                await conn.execute(table.insert().values(id=1))
                entered.set()
                await leave.wait()

        holder = asyncio.create_task(hold())
        await entered.wait()
        async with asyncio.timeout(3):  # commits while the other write transaction is still open
            async with engine.begin() as conn:
                await conn.execute(table.insert().values(id=2))
        leave.set()
        await holder
        async with engine.connect() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(table)) == 2
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
        await engine.dispose()
