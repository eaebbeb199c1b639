"""The replayer: recorded saga logs must fit the current definition; changed definitions are caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.saga import NonDeterminismError, Saga, SagaStatus, Step, replay
from baton.saga.replay import load_history

from .helpers import STEPS

RECORDED = sorted((Path(__file__).parent / "recorded").glob("*.json"))


async def _noop(ctx):
    raise AssertionError("a replay must never call an action")


def definition(*names: str, name: str = "checkout") -> Saga:
    return Saga(name, steps=[Step(n, action=_noop, compensation=_noop) for n in names])


CURRENT = definition(*STEPS)


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_recorded_logs_fit_the_current_definition(path) -> None:
    history = load_history(json.loads(path.read_text()))
    result = replay(CURRENT, history)
    assert result.status is history.saga.status
    assert result.entries == len(history.entries)


def test_replay_summarises_what_ran() -> None:
    history = load_history(json.loads((RECORDED[0].parent / "compensated_at_capture.json").read_text()))
    result = replay(CURRENT, history)
    assert result.status is SagaStatus.COMPENSATED
    assert result.steps_run == ("reserve", "authorize", "capture")
    assert result.compensations_run == ("authorize", "reserve")


def test_replay_accepts_a_log_still_in_flight() -> None:
    history = load_history(json.loads((RECORDED[0].parent / "completed_with_retry.json").read_text()))
    result = replay(CURRENT, history.entries[:6])
    assert result.status is SagaStatus.RUNNING


CHANGED = [
    # id, new step list, text the error must contain
    ("reordered", ("reserve", "capture", "authorize", "confirm"), "expects step_started 'capture'"),
    ("renamed", ("reserve", "authorise", "capture", "confirm"), "'authorize' is not in the definition"),
    ("removed", ("reserve", "capture", "confirm"), "'authorize' is not in the definition"),
    ("added at the end", (*STEPS, "notify"), "expects step_started 'notify'"),
]


@pytest.mark.parametrize(("steps", "message"), [c[1:] for c in CHANGED], ids=[c[0] for c in CHANGED])
def test_a_changed_definition_is_a_non_determinism_error(steps, message) -> None:
    history = load_history(json.loads((RECORDED[0].parent / "completed_with_retry.json").read_text()))
    with pytest.raises(NonDeterminismError, match=message) as caught:
        replay(definition(*steps), history)
    first_mismatch = caught.value.seq
    assert first_mismatch is not None
    assert f"log entry {first_mismatch} " in str(caught.value)
    # Everything before the mismatch still replays.
    assert replay(definition(*steps), history.entries[: first_mismatch - 1]).entries == first_mismatch - 1


def test_reordered_compensations_are_caught() -> None:
    history = load_history(json.loads((RECORDED[0].parent / "compensated_at_capture.json").read_text()))
    entries = list(history.entries)
    comp = [i for i, e in enumerate(entries) if e.kind.value.startswith("compensation_")]
    # Swap the first compensation run (authorize) for reserve's: reverse order is broken.
    tampered = entries[comp[0]].__class__(**{**entries[comp[0]].__dict__, "step": "reserve"})
    entries[comp[0]] = tampered
    with pytest.raises(NonDeterminismError, match="expects compensation_started 'authorize'"):
        replay(CURRENT, entries)


def test_a_log_of_another_saga_is_refused() -> None:
    history = load_history(json.loads(RECORDED[0].read_text()))
    with pytest.raises(NonDeterminismError, match="belongs to 'checkout'"):
        replay(definition(*STEPS, name="refund"), history)
