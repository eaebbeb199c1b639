"""Fewer saga-log writes without breaking "logged before acting": a step's success commits with the next step's
announcement (or the saga's end), a fresh saga is not claimed twice, and ``append_entries`` is all or nothing."""

from __future__ import annotations

import pytest

from baton.saga import EntryKind, LeaseLost, Orchestrator, Saga, SagaStatus, SqlSagaStore, Step
from baton.saga.records import LogEntry
from baton.saga.tables import utcnow

from .helpers import FAST_COMPENSATION, FAST_POLICY, FAST_RETRY


class CountingStore(SqlSagaStore):
    """The SQL store, counting its write transactions by kind."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.writes: list[str] = []

    async def create(self, **kwargs):
        self.writes.append("create")
        return await super().create(**kwargs)

    async def append_entries(self, saga_id, **kwargs):
        self.writes.append("+".join(e.kind.value for e in kwargs["entries"]))
        return await super().append_entries(saga_id, **kwargs)

    async def claim(self, saga_id, **kwargs):
        self.writes.append("claim")
        return await super().claim(saga_id, **kwargs)


def _entry(saga_id: str, seq: int, kind: EntryKind, step: str | None = None) -> LogEntry:
    return LogEntry(saga_id=saga_id, seq=seq, kind=kind, at=utcnow(), step=step, attempt=1)


async def test_each_step_is_announced_in_the_same_commit_as_the_previous_success(engine) -> None:
    store = CountingStore(engine)
    logged_when_acting: dict[str, list[tuple[str, str | None]]] = {}

    def step(name: str):
        async def act(ctx):
            history = await store.history(ctx.saga_id)
            logged_when_acting[name] = [(e.kind.value, e.step) for e in history.entries]
            return {f"{name}_done": True}

        return act

    saga = Saga("checkout", steps=[Step(n, action=step(n), retry=FAST_RETRY) for n in ("a", "b", "c")])
    async with Orchestrator(store, [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        record = await orch.execute("checkout", {"order_id": "o-1"}, saga_id="s-1", timeout=10)
        history = await orch.history("s-1")

    assert record.status is SagaStatus.COMPLETED
    assert record.data == {"order_id": "o-1", "a_done": True, "b_done": True, "c_done": True}
    # Before a step acts, its announcement and the previous step's success are committed.
    assert logged_when_acting["b"][-2:] == [("step_succeeded", "a"), ("step_started", "b")]
    assert logged_when_acting["c"][-2:] == [("step_succeeded", "b"), ("step_started", "c")]
    assert [e.seq for e in history.entries] == list(range(1, 9))
    assert store.writes == [
        "create",  # leased to this orchestrator: no claim after it
        "step_started",
        "step_succeeded+step_started",
        "step_succeeded+step_started",
        "step_succeeded+saga_completed",
    ]


async def test_a_success_followed_by_a_failure_is_written_before_compensating(engine) -> None:
    store = CountingStore(engine)

    async def ok(ctx):
        return None

    async def no(ctx):
        from baton.saga import StepFailed

        raise StepFailed("no")

    saga = Saga("checkout", steps=[Step("a", action=ok, compensation=ok), Step("b", action=no)])
    async with Orchestrator(store, [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        record = await orch.execute("checkout", {}, saga_id="s-2", timeout=10)
        kinds = [(e.kind.value, e.step) for e in (await orch.history("s-2")).entries]

    assert record.status is SagaStatus.COMPENSATED
    assert kinds == [
        ("saga_started", None),
        ("step_started", "a"),
        ("step_succeeded", "a"),
        ("step_started", "b"),
        ("step_failed", "b"),
        ("compensation_started", "a"),
        ("compensation_succeeded", "a"),
        ("saga_compensated", None),
    ]


async def test_append_entries_is_all_or_nothing_and_fenced_on_the_lease(engine) -> None:
    store = SqlSagaStore(engine)
    await store.create(saga_id="s-3", name="checkout", version=1, data={}, correlation_id="c", owner="me", lease_ttl=30)
    entries = [_entry("s-3", 2, EntryKind.STEP_STARTED, "a"), _entry("s-3", 3, EntryKind.STEP_SUCCEEDED, "a")]

    with pytest.raises(LeaseLost):
        await store.append_entries("s-3", owner="thief", expected_seq=1, entries=entries, lease_ttl=30)
    with pytest.raises(ValueError, match="without gaps"):
        await store.append_entries("s-3", owner="me", expected_seq=1, entries=entries[1:], lease_ttl=30)
    assert (await store.get("s-3")).last_seq == 1

    await store.append_entries(
        "s-3", owner="me", expected_seq=1, entries=entries, lease_ttl=30, data={"x": 1}, status=SagaStatus.RUNNING
    )
    history = await store.history("s-3")
    assert [(e.seq, e.kind) for e in history.entries[1:]] == [
        (2, EntryKind.STEP_STARTED),
        (3, EntryKind.STEP_SUCCEEDED),
    ]
    assert history.saga.last_seq == 3
    assert history.saga.data == {"x": 1}
    with pytest.raises(LeaseLost):  # the log moved past 1: a stale writer appends nothing
        await store.append_entries("s-3", owner="me", expected_seq=1, entries=entries, lease_ttl=30)
    assert len((await store.history("s-3")).entries) == 3
