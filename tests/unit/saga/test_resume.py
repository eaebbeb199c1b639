"""Resuming from every possible log prefix of a 4-step saga ends where an uninterrupted run ends.

A prefix is what a ``kill -9`` leaves behind: the entries committed so far. The resumed run must finish with
the same status, write the same remaining log (re-announcing an action whose outcome was unknown), call
exactly the actions not yet known to be done, and only ever with the deterministic idempotency key.
"""

from __future__ import annotations

import pytest

from baton.kit.db import create_engine
from baton.saga import EntryKind, Orchestrator, SqlSagaStore, metadata
from baton.saga.machine import fold
from baton.saga.tables import saga_log_table, saga_table

from .conftest import Recorder
from .helpers import FAST_COMPENSATION, FAST_POLICY, four_steps

STARTED = (EntryKind.STEP_STARTED, EntryKind.COMPENSATION_STARTED)
OUTCOMES = {
    EntryKind.STEP_SUCCEEDED,
    EntryKind.STEP_RETRY,
    EntryKind.STEP_FAILED,
    EntryKind.COMPENSATION_SUCCEEDED,
    EntryKind.COMPENSATION_FAILED,
}

SCRIPTS = {
    "all succeed": {},
    "retry, then no at step 4": {("authorize", "action"): ["boom", "ok"], ("confirm", "action"): ["no"]},
    "no at step 3, a compensation retried": {
        ("capture", "action"): ["no"],
        ("reserve", "compensation"): ["boom", "ok"],
    },
}


async def _fresh_store(path):
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine, SqlSagaStore(engine)


async def _seed(engine, saga, record, prefix) -> None:
    """Write the saga row and log exactly as a crash after entry ``len(prefix)`` would have left them."""
    state = fold(saga, prefix)
    async with engine.begin() as conn:
        await conn.execute(
            saga_table.insert().values(
                id=record.id,
                name=record.name,
                status=state.status.value,
                data=state.data,
                correlation_id=record.correlation_id,
                version=record.version,
                created_at=record.created_at,
                updated_at=prefix[-1].at,
                last_seq=prefix[-1].seq,
                owner="crashed-process",
                lease_expires_at=0.0,  # long expired
            )
        )
        for entry in prefix:
            await conn.execute(
                saga_log_table.insert().values(
                    saga_id=entry.saga_id,
                    seq=entry.seq,
                    at=entry.at,
                    kind=entry.kind.value,
                    step=entry.step,
                    attempt=entry.attempt,
                    payload=entry.payload,
                    error=entry.error,
                )
            )


def _recorder(script) -> Recorder:
    recorder = Recorder()
    for (step, phase), outcomes in script.items():
        recorder.plan(step, phase, *outcomes)
    return recorder


@pytest.mark.parametrize("script", SCRIPTS.values(), ids=SCRIPTS.keys())
async def test_resume_from_every_prefix(tmp_path, script) -> None:
    reference = _recorder(script)
    engine, store = await _fresh_store(tmp_path / "reference.db")
    async with Orchestrator(
        store, [four_steps(reference)], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION
    ) as orch:
        final = await orch.execute("checkout", {"order_id": "o-1"}, saga_id="s-1", timeout=10)
        full = await orch.history("s-1")
    await engine.dispose()
    entries = full.entries
    assert entries[-1].kind in (EntryKind.SAGA_COMPLETED, EntryKind.SAGA_COMPENSATED)

    for n in range(1, len(entries)):
        prefix = entries[:n]
        resumed = _recorder(script)
        saga = four_steps(resumed)
        engine, store = await _fresh_store(tmp_path / f"prefix-{n}.db")
        await _seed(engine, saga, full.saga, prefix)
        async with Orchestrator(
            store, [saga], owner="restarted", policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION
        ) as orch:
            record = await orch.wait("s-1", timeout=10)
            history = await orch.history("s-1")
        await engine.dispose()

        where = f"after a crash at entry {n} ({prefix[-1].kind.value} {prefix[-1].step})"
        assert record.status is final.status, where
        assert record.data == final.data, where

        open_call = prefix[-1].kind in STARTED
        started_before = sum(1 for e in prefix if e.kind in STARTED)
        expected_calls = reference.calls[started_before - 1 if open_call else started_before :]
        assert [(c.phase, c.step, c.attempt) for c in resumed.calls] == [
            (c.phase, c.step, c.attempt) for c in expected_calls
        ], where
        for call in resumed.calls:
            assert call.key == f"s-1:{call.step}:{call.phase}", where
        # Keys applied before the crash plus after it are exactly the reference run's: nothing new, nothing lost.
        before = {c.key for c in reference.calls[:started_before] if c.key in reference.effects}
        assert before | set(resumed.effects) == set(reference.effects), where
        assert all(count == 1 for count in resumed.effects.values()), where

        shape = [(e.kind, e.step, e.attempt) for e in history.entries]
        expected_shape = [(e.kind, e.step, e.attempt) for e in entries]
        if open_call:
            expected_shape.insert(n, expected_shape[n - 1])  # the unknown outcome is re-announced, same attempt
        assert shape == expected_shape, where
        if open_call:
            assert history.entries[n].payload["resumed"] is True
