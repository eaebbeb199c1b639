"""SQLite writers in one process: the kit's writer queue against the busy handler alone.

N tasks each run write transactions back to back on one engine (a session per transaction: an INSERT, a read,
an UPDATE, the way a request's transaction interleaves statements with its own awaits). Reference, measured in
the same run: the same engine without the writer queue (only the pragmas: WAL + ``busy_timeout``), so its
writers meet in SQLite's busy handler. Figures: committed transactions/s, p50/p99 transaction latency (its wait
for the lock included), ``database is locked`` errors.

    .venv/bin/python bench/db_writers.py [--quick] [--writers 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from baton.kit.db import _sqlite_pragmas, create_engine, session_factory

_metadata = sa.MetaData()
_rows = sa.Table(
    "rows",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("writer", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
)


def plain_engine(url: str) -> AsyncEngine:
    """The reference: pragmas only, no writer queue (how ``create_engine`` was before the queue)."""
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def run(engine: AsyncEngine, *, writers: int, seconds: float) -> dict[str, float]:
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    sessions = session_factory(engine)
    latencies: list[float] = []
    errors = 0

    async def writer(w: int, until: float) -> None:
        nonlocal errors
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                async with sessions() as session, session.begin():
                    result = await session.execute(sa.insert(_rows).values(writer=w, n=0))
                    row_id = result.inserted_primary_key[0]  # type: ignore[index]
                    await session.scalar(sa.select(sa.func.count()).where(_rows.c.writer == w))
                    await session.execute(sa.update(_rows).where(_rows.c.id == row_id).values(n=1))
            except OperationalError:
                errors += 1
                continue
            latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(writer(w, started + seconds) for w in range(writers)))
    elapsed = time.monotonic() - started
    await engine.dispose()
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [float("nan")] * 99
    return {"tps": len(latencies) / elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "errors": errors}


async def main_async(quick: bool, writers: int) -> None:
    seconds = 5.0 if quick else 20.0
    print(f"machine: {platform.node()} {os.cpu_count()} cpu, Python {platform.python_version()}, {writers} writers")
    figures = {}
    for name, make in (("busy handler", plain_engine), ("writer queue", create_engine)):
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-db-')}/bench.db"
        figures[name] = f = await run(make(url), writers=writers, seconds=seconds)
        print(
            f"{name:13s} {f['tps']:8.1f} tx/s  p50 {f['p50_ms']:7.1f} ms  p99 {f['p99_ms']:7.1f} ms"
            f"  errors {f['errors']:.0f}"
        )
    before, after = figures["busy handler"], figures["writer queue"]
    ratio = after["tps"] / before["tps"] if before["tps"] else float("inf")
    print(f"ratio         throughput queue/busy-handler: {ratio:.2f}")
    print(
        json.dumps(
            {
                "bench": "db_writers",
                "metric": "write tx/s with the writer queue / without (one process, SQLite)",
                "value": round(ratio, 2),
                "target": ">= 1.0, p99 lower, 0 errors",
                "met": ratio >= 1.0 and after["p99_ms"] < before["p99_ms"] and after["errors"] == 0,
                "writers": writers,
                "before": {k: round(v, 1) for k, v in before.items()},
                "after": {k: round(v, 1) for k, v in after.items()},
                "quick": quick,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s per variant")
    parser.add_argument("--writers", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main_async(args.quick, args.writers))


if __name__ == "__main__":
    main()
