"""A saga host process for the kill -9 test: runs N checkout sagas to their end, resuming whatever it finds.

Usage: ``python runner.py <saga.db> <effects.db> <count>``. Every action and compensation first counts its
attempt, then (after a short pause, so kills land mid-action too) applies its effect keyed by the
idempotency key with ``INSERT OR IGNORE`` into a separate "side effects" database, the way a downstream
service honours ``Idempotency-Key``. Saga ``i`` says "no" at capture when ``i % 3 == 0`` and has a flaky
authorize (first attempt fails) when ``i % 3 == 1``. Exits 0 once every saga is terminal.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from baton.saga import (
    CompensationRetry,
    Orchestrator,
    OrchestratorPolicy,
    Saga,
    SqlSagaStore,
    Step,
    StepContext,
    StepFailed,
    StepRetry,
    metadata,
)

STEPS = ("reserve", "authorize", "capture", "confirm")
EFFECTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS effects (
    key TEXT PRIMARY KEY, saga_id TEXT NOT NULL, step TEXT NOT NULL, phase TEXT NOT NULL
);
"""


def _write(path: Path, statements: list[tuple[str, tuple[str, ...]]]) -> None:
    with sqlite3.connect(path, timeout=10) as conn:
        for sql, params in statements:
            conn.execute(sql, params)


def build_saga(effects: Path) -> Saga:
    async def effect(ctx: StepContext) -> dict[str, str] | None:
        await asyncio.to_thread(_write, effects, [("INSERT INTO attempts (key) VALUES (?)", (ctx.idempotency_key,))])
        await asyncio.sleep(random.uniform(0, 0.01))
        if ctx.phase == "action":
            if ctx.step == "capture" and ctx.data.get("fail_at") == "capture":
                raise StepFailed("card declined")
            if ctx.step == "authorize" and ctx.data.get("flaky") and ctx.attempt == 1:
                raise RuntimeError("payment provider hiccup")
        await asyncio.to_thread(
            _write,
            effects,
            [
                (
                    "INSERT OR IGNORE INTO effects (key, saga_id, step, phase) VALUES (?, ?, ?, ?)",
                    (ctx.idempotency_key, ctx.saga_id, ctx.step, ctx.phase),
                )
            ],
        )
        return {f"{ctx.step}_ref": ctx.idempotency_key} if ctx.phase == "action" else None

    retry = StepRetry(max_attempts=3, initial_interval=0.01, max_interval=0.05)
    return Saga(
        "checkout",
        steps=[Step(name, action=effect, compensation=effect, timeout=5.0, retry=retry) for name in STEPS],
    )


async def main(saga_db: Path, effects: Path, count: int) -> None:
    with sqlite3.connect(effects) as conn:
        conn.executescript(EFFECTS_SCHEMA)
    # Plain SQLAlchemy rather than the kit's engine: the runner is restarted often and should start fast.
    engine = create_async_engine(f"sqlite+aiosqlite:///{saga_db}", connect_args={"timeout": 10})
    async with engine.begin() as conn:
        await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        await conn.run_sync(metadata.create_all)
    policy = OrchestratorPolicy(max_in_flight=4, sweep_interval=0.2, stop_grace=1.0)
    comp_retry = CompensationRetry(initial_interval=0.01, max_interval=0.05)
    # A stable owner name: the restarted process takes its sagas back without waiting for the leases to expire.
    async with Orchestrator(
        SqlSagaStore(engine), [build_saga(effects)], owner="runner", policy=policy, compensation_retry=comp_retry
    ) as orchestrator:
        for i in range(count):
            data = {"order_id": f"o-{i}", "fail_at": "capture" if i % 3 == 0 else None, "flaky": i % 3 == 1}
            await orchestrator.start("checkout", data, saga_id=f"saga-{i:02d}", correlation_id=f"c-{i}")
        for i in range(count):
            await orchestrator.wait(f"saga-{i:02d}", timeout=60)
    await engine.dispose()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
