"""Two orchestrators on one database: each saga is driven by one of them at a time, and a stalled owner's
saga is taken over once its lease expires, with the stale owner fenced off the log."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from baton.saga import EntryKind, Orchestrator, OrchestratorPolicy, Saga, SagaStatus, SqlSagaStore, Step
from baton.testing import wait_until

STEPS = ("reserve", "authorize", "capture", "confirm")
POLICY = OrchestratorPolicy(max_in_flight=2, lease_ttl=5.0, heartbeat_interval=1.0, sweep_interval=0.05, stop_grace=1)


def counting_saga(applied: Counter, pause: float = 0.005) -> Saga:
    """Effects are NOT idempotent here on purpose: a saga driven twice would apply a key twice."""

    async def act(ctx):
        await asyncio.sleep(pause)
        applied[ctx.idempotency_key] += 1

    return Saga("checkout", steps=[Step(name, action=act, compensation=act) for name in STEPS])


def owners(history) -> set[str]:
    return {e.payload["owner"] for e in history.entries if e.kind is EntryKind.STEP_STARTED}


@pytest.mark.integration
async def test_two_orchestrators_share_the_work_without_driving_a_saga_twice(shared_db) -> None:
    seeding = SqlSagaStore(shared_db.engine())
    ids = [f"s-{i:02d}" for i in range(10)]
    for saga_id in ids:  # unowned sagas (as if their starter died): both orchestrators race to claim them
        await seeding.create(
            saga_id=saga_id, name="checkout", version=1, data={}, correlation_id=saga_id, owner="gone", lease_ttl=-1
        )
    applied: Counter = Counter()
    saga = counting_saga(applied)
    a = Orchestrator(SqlSagaStore(shared_db.engine()), [saga], owner="a", policy=POLICY)
    b = Orchestrator(SqlSagaStore(shared_db.engine()), [saga], owner="b", policy=POLICY)
    async with a, b:
        records = [await a.wait(saga_id, timeout=30) for saga_id in ids]
        histories = [await a.history(saga_id) for saga_id in ids]

    assert {r.status for r in records} == {SagaStatus.COMPLETED}
    assert set(applied) == {f"{i}:{step}:action" for i in ids for step in STEPS}
    assert set(applied.values()) == {1}, "a key was applied twice: two orchestrators drove one saga"
    per_saga = [owners(h) for h in histories]
    assert all(len(o) == 1 for o in per_saga), per_saga
    assert set().union(*per_saga) == {"a", "b"}, "both orchestrators should have taken sagas"


@pytest.mark.integration
async def test_a_stalled_owner_is_taken_over_and_fenced(shared_db) -> None:
    stall = asyncio.Event()
    calls: list[tuple[str, str, int]] = []

    async def act(ctx):
        calls.append((ctx.step, ctx.idempotency_key, ctx.attempt))
        if ctx.step == "capture" and len(calls) == 3:  # the stalled owner's capture hangs
            await stall.wait()

    saga = Saga("checkout", steps=[Step(name, action=act, timeout=30) for name in STEPS])
    # "a" renews nothing (its heartbeat would come after the lease ran out): a process stuck in a long pause.
    stalled = OrchestratorPolicy(lease_ttl=0.3, heartbeat_interval=60, sweep_interval=60, stop_grace=1)
    a = Orchestrator(SqlSagaStore(shared_db.engine()), [saga], owner="a", policy=stalled)
    b = Orchestrator(SqlSagaStore(shared_db.engine()), [saga], owner="b", policy=POLICY)
    async with a:
        await a.start("checkout", {}, saga_id="s-1")
        await wait_until(lambda: len(calls) == 3, timeout=10)
        async with b:
            record = await b.wait("s-1", timeout=15)
            stall.set()  # the stale owner wakes up and tries to log capture's outcome
            await wait_until(lambda: a.in_flight == 0, timeout=10)
            history = await b.history("s-1")

    assert record.status is SagaStatus.COMPLETED
    captures = [e for e in history.entries if e.kind is EntryKind.STEP_STARTED and e.step == "capture"]
    assert [(e.payload["owner"], e.attempt, e.payload["resumed"]) for e in captures] == [
        ("a", 1, False),
        ("b", 1, True),
    ]
    assert [c for c in calls if c[0] == "capture"] == [("capture", "s-1:capture:action", 1)] * 2
    assert history.entries[-1].kind is EntryKind.SAGA_COMPLETED  # nothing from "a" after the takeover
    assert len(history.entries) == history.saga.last_seq
