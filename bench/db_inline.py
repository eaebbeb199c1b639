"""SQLite through the kit's engine: statements on the event loop's thread vs in aiosqlite's worker threads.

Both engines come from ``baton.kit.db.create_engine`` on the same kind of file (WAL, the writer queue), one with
``inline=True`` (the default), one with ``inline=False`` (aiosqlite: every DBAPI call is a round trip to the
connection's thread). Measured in the same run: CPU time (``time.process_time``, all threads of this process)
per operation, the shapes a service's request makes — a read on its own connection, a one-row write in a
transaction, a session transaction with five reads — and plain SQLAlchemy on the synchronous ``sqlite3`` driver
as the floor. CPU rather than wall time, so the figures hold on a shared machine; the ratio is what to read.

    .venv/bin/python bench/db_inline.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from baton.kit.db import create_engine, session_factory, transaction  # noqa: E402

_metadata = sa.MetaData()
_rows = sa.Table(
    "rows", _metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("value", sa.String, nullable=False)
)


async def _per_op(fn: Callable[[int], Awaitable[None]], n: int) -> float:
    """CPU microseconds per call of ``fn`` (after a warm-up)."""
    for i in range(min(100, n)):
        await fn(i)
    started = time.process_time()
    for i in range(n):
        await fn(i)
    return (time.process_time() - started) / n * 1e6


async def measure(inline: bool, n: int) -> dict[str, float]:
    engine = create_engine(f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-db-')}/rows.db", inline=inline)
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
        await conn.execute(_rows.insert(), [{"id": i, "value": "x"} for i in range(100)])
    sessions = session_factory(engine)

    async def read(i: int) -> None:
        async with engine.connect() as conn:
            (await conn.execute(sa.select(_rows).where(_rows.c.id == i % 100))).all()

    async def write(i: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(_rows.update().where(_rows.c.id == i % 100).values(value=str(i)))

    async def five_reads(i: int) -> None:
        async with transaction(sessions) as session:
            for k in range(5):
                (await session.execute(sa.select(_rows).where(_rows.c.id == (i + k) % 100))).all()

    try:
        return {
            "read": await _per_op(read, n),
            "write": await _per_op(write, n),
            "session_5_reads": await _per_op(five_reads, n // 2),
        }
    finally:
        await engine.dispose()


def measure_sync(n: int) -> dict[str, float]:
    engine = sa.create_engine(f"sqlite:///{tempfile.mkdtemp(prefix='bench-db-')}/rows.db")
    sa.event.listen(engine, "connect", _wal)
    with engine.begin() as conn:
        _metadata.create_all(conn)
        conn.execute(_rows.insert(), [{"id": i, "value": "x"} for i in range(100)])
    found: dict[str, float] = {}
    operations: dict[str, Callable[[sa.Engine, int], None]] = {"read": _sync_read, "write": _sync_write}
    for name, fn in operations.items():
        for i in range(100):
            fn(engine, i)
        started = time.process_time()
        for i in range(n):
            fn(engine, i)
        found[name] = (time.process_time() - started) / n * 1e6
    engine.dispose()
    return found


def _wal(dbapi_connection: Any, _: Any) -> None:
    # The kit's pragmas, so the floor writes like the engines above (WAL, synchronous=NORMAL: no fsync per commit).
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _sync_read(engine: sa.Engine, i: int) -> None:
    with engine.connect() as conn:
        conn.execute(sa.select(_rows).where(_rows.c.id == i % 100)).all()


def _sync_write(engine: sa.Engine, i: int) -> None:
    with engine.begin() as conn:
        conn.execute(_rows.update().where(_rows.c.id == i % 100).values(value=str(i)))


async def main_async(quick: bool) -> None:
    n = 1000 if quick else 5000
    threads = await measure(False, n)
    inline = await measure(True, n)
    floor = measure_sync(n)
    print(f"{'operation':18s} {'aiosqlite threads':>18s} {'inline':>10s} {'ratio':>7s} {'sync floor':>11s}")
    for op in threads:
        ratio = threads[op] / inline[op]
        sync = floor.get(op, float("nan"))
        print(f"{op:18s} {threads[op]:15.0f} us {inline[op]:7.0f} us {ratio:6.2f}x {sync:8.0f} us")
    print(
        json.dumps(
            {
                "bench": "db_inline",
                "metric": "CPU us per operation, aiosqlite threads / inline (same run)",
                "threads_us": {k: round(v, 1) for k, v in threads.items()},
                "inline_us": {k: round(v, 1) for k, v in inline.items()},
                "ratio": {k: round(threads[k] / inline[k], 2) for k in threads},
                "sync_floor_us": {k: round(v, 1) for k, v in floor.items()},
                "quick": quick,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args.quick))


if __name__ == "__main__":
    main()
