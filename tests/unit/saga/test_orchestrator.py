"""The orchestrator's state machine, table-driven: outcomes, ordering, retries, timeouts and incidents."""

from __future__ import annotations

import pytest

from baton.saga import EntryKind, Orchestrator, RecordingIncidentSink, SagaStatus

from .helpers import FAST_COMPENSATION, FAST_POLICY, STEPS, four_steps

A = [("action", name) for name in STEPS]


def comp(*names: str) -> list[tuple[str, str]]:
    return [("compensation", name) for name in names]


CASES = [
    # id, script {(step, phase): outcomes}, expected status, expected call sequence
    ("all succeed", {}, SagaStatus.COMPLETED, A),
    ("no at step 1", {("reserve", "action"): ["no"]}, SagaStatus.COMPENSATED, A[:1]),
    ("no at step 2", {("authorize", "action"): ["no"]}, SagaStatus.COMPENSATED, A[:2] + comp("reserve")),
    (
        "no at step 3",
        {("capture", "action"): ["no"]},
        SagaStatus.COMPENSATED,
        A[:3] + comp("authorize", "reserve"),
    ),
    (
        "no at step 4",
        {("confirm", "action"): ["no"]},
        SagaStatus.COMPENSATED,
        A + comp("capture", "authorize", "reserve"),
    ),
    (
        "transient twice then ok",
        {("authorize", "action"): ["boom", "boom", "ok"]},
        SagaStatus.COMPLETED,
        [*A[:2], A[1], A[1], *A[2:]],
    ),
    (
        # Retries spent: the outcome of the last attempt is unknown, so the step itself is compensated too.
        "transient exhausted",
        {("capture", "action"): ["boom"]},
        SagaStatus.COMPENSATED,
        [*A[:3], A[2], A[2], *comp("capture", "authorize", "reserve")],
    ),
    (
        "timeout then ok",
        {("capture", "action"): ["slow", "ok"]},
        SagaStatus.COMPLETED,
        [*A[:3], A[2], *A[3:]],
    ),
]


@pytest.mark.parametrize(("script", "status", "sequence"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_state_machine(store, recorder, script, status, sequence) -> None:
    for (step, phase), outcomes in script.items():
        recorder.plan(step, phase, *outcomes)
    saga = four_steps(recorder, timeout=0.1)
    async with Orchestrator(store, [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        record = await orch.execute("checkout", {"order_id": "o-1"}, saga_id="s-1", timeout=10)
        history = await orch.history("s-1")

    assert record.status is status
    assert recorder.sequence() == sequence
    assert history.entries[-1].kind.value == f"saga_{status.value}"
    # Every call of a step's action (or compensation) carried the same deterministic key.
    for call in recorder.calls:
        assert call.key == f"s-1:{call.step}:{call.phase}"
    # Attempts count up per step and phase.
    for step in STEPS:
        attempts = [c.attempt for c in recorder.calls if c.step == step and c.phase == "action"]
        assert attempts == list(range(1, len(attempts) + 1))


async def test_outputs_flow_into_later_steps_and_the_saga_row(store) -> None:
    seen = {}

    async def reserve(ctx):
        return {"reservation": f"r-{ctx.data['order_id']}"}

    async def capture(ctx):
        seen.update(ctx.data)
        return {"payment": "p-9"}

    from baton.saga import Saga, Step

    saga = Saga("checkout", steps=[Step("reserve", action=reserve), Step("capture", action=capture)])
    async with Orchestrator(store, [saga], policy=FAST_POLICY) as orch:
        record = await orch.execute("checkout", {"order_id": "o-7"})

    assert seen == {"order_id": "o-7", "reservation": "r-o-7"}
    assert record.data == {"order_id": "o-7", "reservation": "r-o-7", "payment": "p-9"}


async def test_compensation_failing_raises_exactly_one_incident_and_still_completes(store, recorder) -> None:
    recorder.plan("confirm", "action", "no")
    # Five failures with incident_after=3: the incident is raised once, retries go on, then it succeeds.
    recorder.plan("authorize", "compensation", "boom", "boom", "boom", "boom", "boom", "ok")
    sink = RecordingIncidentSink()
    saga = four_steps(recorder)
    async with Orchestrator(
        store, [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION, incidents=sink
    ) as orch:
        record = await orch.execute("checkout", {}, saga_id="s-2", timeout=10)
        history = await orch.history("s-2")

    assert record.status is SagaStatus.COMPENSATED
    assert [(i.step, i.failures) for i in sink.raised] == [("authorize", 3)]
    assert "exploded" in sink.raised[0].error
    assert [i.step for i in sink.resolved] == ["authorize"]
    stuck = [e for e in history.entries if e.kind is EntryKind.SAGA_STUCK]
    assert len(stuck) == 1
    assert stuck[0].seq > [e.seq for e in history.entries if e.kind is EntryKind.COMPENSATION_FAILED][2]
    assert recorder.sequence()[-8:] == comp("capture") + comp("authorize") * 6 + comp("reserve")


async def test_saga_shows_stuck_while_its_compensation_keeps_failing(store, recorder) -> None:
    recorder.plan("authorize", "action", "no")
    recorder.plan("reserve", "compensation", "boom")  # forever
    saga = four_steps(recorder)
    sink = RecordingIncidentSink()
    async with Orchestrator(
        store, [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION, incidents=sink
    ) as orch:
        await orch.start("checkout", {}, saga_id="s-3")
        from baton.testing import wait_until

        async def stuck_and_still_retrying():
            failed = sum(1 for c in recorder.calls if c.phase == "compensation")
            return (await store.get("s-3")).status is SagaStatus.STUCK and failed >= 6

        await wait_until(stuck_and_still_retrying, timeout=5)
    assert len(sink.raised) == 1
    assert sink.resolved == []


async def test_start_is_idempotent_by_saga_id(store, recorder) -> None:
    saga = four_steps(recorder)
    async with Orchestrator(store, [saga], policy=FAST_POLICY) as orch:
        first = await orch.execute("checkout", {"n": 1}, saga_id="same")
        second = await orch.execute("checkout", {"n": 2}, saga_id="same")
    assert first.id == second.id == "same"
    assert second.data["n"] == 1
    assert recorder.sequence() == A


async def test_unknown_saga_and_closed_orchestrator_are_refused(store, recorder) -> None:
    from baton.errors import SagaError

    orch = Orchestrator(store, [four_steps(recorder)], policy=FAST_POLICY)
    with pytest.raises(SagaError, match="not accepting"):
        await orch.start("checkout", {})
    async with orch:
        with pytest.raises(SagaError, match="unknown saga 'nope'"):
            await orch.start("nope", {})
    with pytest.raises(SagaError, match="not accepting"):
        await orch.start("checkout", {})


async def test_closing_mid_step_leaves_a_resumable_saga_and_a_changed_definition_refuses_it(store) -> None:
    from baton.testing import wait_until

    from .conftest import Recorder

    hanging = Recorder()
    hanging.plan("capture", "action", "slow")
    async with Orchestrator(store, [four_steps(hanging, timeout=60)], owner="first", policy=FAST_POLICY) as orch:
        await orch.start("checkout", {}, saga_id="s-4")
        await wait_until(lambda: ("action", "capture") in hanging.sequence(), timeout=5)
    # aclose gave the step stop_grace, then cancelled it and released the lease.
    record = await store.get("s-4")
    assert record.status is SagaStatus.RUNNING
    assert record.owner is None

    reordered = Recorder()
    saga = four_steps(reordered, names=("reserve", "capture", "authorize", "confirm"))
    async with Orchestrator(store, [saga], owner="second", policy=FAST_POLICY) as orch:
        await wait_until(lambda: orch.in_flight == 0, timeout=5)
        assert await orch.resume_all() == 0  # known broken: not retried by every sweep
    assert reordered.calls == []
    assert (await store.get("s-4")).owner is None

    fresh = Recorder()
    async with Orchestrator(store, [four_steps(fresh)], owner="third", policy=FAST_POLICY) as orch:
        record = await orch.wait("s-4", timeout=10)
    assert record.status is SagaStatus.COMPLETED
    assert fresh.sequence() == [("action", "capture"), ("action", "confirm")]


async def test_a_resumed_saga_runs_on_the_version_it_started_with(store) -> None:
    from baton.testing import wait_until

    from .conftest import Recorder

    old = Recorder()
    old.plan("authorize", "action", "slow")
    async with Orchestrator(store, [four_steps(old, timeout=60)], policy=FAST_POLICY) as orch:
        await orch.start("checkout", {}, saga_id="v1-saga")
        await wait_until(lambda: ("action", "authorize") in old.sequence(), timeout=5)

    v1, v2 = Recorder(), Recorder()
    definitions = [four_steps(v2, names=("reserve", "fraud_check", "authorize"), version=2), four_steps(v1)]
    async with Orchestrator(store, definitions, policy=FAST_POLICY) as orch:
        resumed = await orch.wait("v1-saga", timeout=10)
        fresh = await orch.execute("checkout", {}, saga_id="v2-saga")
    assert (resumed.version, resumed.status) == (1, SagaStatus.COMPLETED)
    assert v1.sequence() == [("action", "authorize"), ("action", "capture"), ("action", "confirm")]
    assert (fresh.version, fresh.status) == (2, SagaStatus.COMPLETED)
    assert v2.sequence() == [("action", "reserve"), ("action", "fraud_check"), ("action", "authorize")]


async def test_sagas_in_flight_are_bounded(store) -> None:
    import asyncio

    from baton.saga import OrchestratorPolicy, Saga, Step
    from baton.testing import wait_until

    gate = asyncio.Event()
    running, peak = 0, 0

    async def act(ctx):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1

    policy = OrchestratorPolicy(max_in_flight=2, sweep_interval=0.05, stop_grace=1)
    async with Orchestrator(store, [Saga("slow", steps=[Step("only", action=act)])], policy=policy) as orch:
        ids = [await orch.start("slow", {}) for _ in range(6)]
        await wait_until(lambda: running == 2, timeout=5)
        assert orch.in_flight == 6  # all accepted and logged; four wait for a slot
        gate.set()
        records = [await orch.wait(saga_id, timeout=10) for saga_id in ids]
    assert {r.status for r in records} == {SagaStatus.COMPLETED}
    assert peak == 2
