"""The canary and blue-green state machines, table-driven: analyses in, weights and phases out."""

from __future__ import annotations

import pytest

from baton.delivery import (
    AnalysisPolicy,
    BlueGreenController,
    BlueGreenPolicy,
    CanaryController,
    CanaryPolicy,
    Complete,
    Phase,
    Rollback,
    RolloutState,
    SetWeight,
    Stats,
    Verdict,
    judge,
)

ANALYSIS = AnalysisPolicy(interval=10.0, min_requests=20)
GOOD = (Stats(100, 0, 0.01), Stats(1000, 0, 0.01))
BAD = (Stats(100, 30, 0.01), Stats(1000, 0, 0.01))
THIN = (Stats(5, 0, 0.01), Stats(1000, 0, 0.01))


def state(strategy: str = "canary") -> RolloutState:
    return RolloutState(service="web", strategy=strategy, stable_version="1.0", new_version="1.1", started_at=0.0)


def look(at: float, figures: tuple[Stats, Stats]):
    return judge(*figures, ANALYSIS, at=at, window=10.0)


def weights(actions) -> list[int]:
    return [a.weight for a in actions if isinstance(a, SetWeight)]


# (time, figures) → (weights set, phase after)
HEALTHY = [
    ((5, GOOD), ([], Phase.PROGRESSING)),  # mid-step: keep watching
    ((10, GOOD), ([10], Phase.PROGRESSING)),
    ((20, GOOD), ([25], Phase.PROGRESSING)),
    ((30, GOOD), ([50], Phase.PROGRESSING)),
    ((40, GOOD), ([100], Phase.HEALTHY)),
]
BAD_AT_SECOND_STEP = [
    ((10, GOOD), ([10], Phase.PROGRESSING)),
    ((12, BAD), ([0], Phase.ROLLED_BACK)),  # fails fast, not at the end of the step
    ((20, GOOD), ([], Phase.ROLLED_BACK)),  # terminal: nothing more happens
]
THIN_TRAFFIC = [
    ((10, THIN), ([], Phase.PROGRESSING)),  # held once
    ((20, THIN), ([], Phase.PROGRESSING)),  # held twice
    ((30, THIN), ([0], Phase.ROLLED_BACK)),  # gives up
]
HELD_THEN_OK = [
    ((10, THIN), ([], Phase.PROGRESSING)),
    ((15, GOOD), ([], Phase.PROGRESSING)),  # the held step restarted at 10
    ((20, GOOD), ([10], Phase.PROGRESSING)),
]


@pytest.mark.parametrize("script", [HEALTHY, BAD_AT_SECOND_STEP, THIN_TRAFFIC, HELD_THEN_OK])
def test_canary_steps(script) -> None:
    rollout = state()
    controller = CanaryController(rollout, CanaryPolicy(steps=(5, 10, 25, 50, 100), max_holds=2), ANALYSIS)
    assert weights(controller.start(0.0)) == [5]
    for (at, figures), (expected, phase) in script:
        actions = controller.observe(look(at, figures))
        assert weights(actions) == expected, (at, rollout.events[-1])
        assert rollout.phase is phase
    if rollout.phase is Phase.HEALTHY:
        assert isinstance(actions[-1], Complete)
        assert rollout.weight == 100
    if rollout.phase is Phase.ROLLED_BACK:
        assert rollout.weight == 0
        assert any(isinstance(a, Rollback) and a.failed for a in actions) or rollout.events[-1]["kind"] == "rolled_back"


def test_canary_last_step_below_100_promotes_after_passing() -> None:
    rollout = state()
    controller = CanaryController(rollout, CanaryPolicy(steps=(20, 50)), ANALYSIS)
    controller.start(0.0)
    assert weights(controller.observe(look(10, GOOD))) == [50]
    actions = controller.observe(look(20, GOOD))
    assert weights(actions) == [100]
    assert isinstance(actions[-1], Complete)


def test_canary_promote_and_abort() -> None:
    rollout = state()
    controller = CanaryController(rollout, CanaryPolicy(), ANALYSIS)
    controller.start(0.0)
    assert weights(controller.promote(1.0)) == [10]
    assert weights(controller.promote(2.0, full=True)) == [100]
    assert rollout.phase is Phase.HEALTHY

    other = state()
    controller = CanaryController(other, CanaryPolicy(), ANALYSIS)
    controller.start(0.0)
    actions = controller.abort(1.0)
    assert weights(actions) == [0]
    assert isinstance(actions[-1], Rollback)
    assert not actions[-1].failed
    assert other.phase is Phase.ABORTED
    assert controller.abort(2.0) == []  # already over


def test_blue_green_preview_switch_keep_warm_then_complete() -> None:
    rollout = state("blue_green")
    controller = BlueGreenController(rollout, BlueGreenPolicy(keep_warm=30.0), ANALYSIS)
    assert weights(controller.start(0.0)) == [0]
    assert weights(controller.preview_verified(1.0, True, "5 requests ok")) == [100]
    assert rollout.phase is Phase.SWITCHED
    assert controller.observe(look(20.0, (Stats(100, 0, 0.01), Stats()))) == []  # still warm
    actions = controller.observe(look(31.0, (Stats(100, 0, 0.01), Stats())))
    assert actions == [Complete()]
    assert rollout.phase is Phase.HEALTHY


@pytest.mark.parametrize("how", ["undo", "analysis"])
def test_blue_green_switches_back(how) -> None:
    rollout = state("blue_green")
    controller = BlueGreenController(rollout, BlueGreenPolicy(keep_warm=30.0), ANALYSIS)
    controller.start(0.0)
    controller.preview_verified(1.0, True, "ok")
    if how == "undo":
        actions = controller.undo(5.0)
        assert rollout.phase is Phase.ABORTED
    else:
        actions = controller.observe(look(5.0, (Stats(100, 40, 0.01), Stats())))
        assert rollout.phase is Phase.ROLLED_BACK
    assert weights(actions) == [0]
    assert isinstance(actions[-1], Rollback)
    assert actions[-1].failed is (how == "analysis")


def test_blue_green_failed_preview_and_manual_promotion() -> None:
    rollout = state("blue_green")
    controller = BlueGreenController(rollout, BlueGreenPolicy(), ANALYSIS)
    controller.start(0.0)
    actions = controller.preview_verified(1.0, False, "GET /v1/x answered 500")
    assert rollout.phase is Phase.ROLLED_BACK
    assert weights(actions) == [0]

    manual = state("blue_green")
    controller = BlueGreenController(manual, BlueGreenPolicy(auto_promote=False), ANALYSIS)
    controller.start(0.0)
    assert controller.preview_verified(1.0, True, "ok") == []
    assert manual.phase is Phase.PAUSED
    assert weights(controller.promote(2.0)) == [100]
    assert manual.phase is Phase.SWITCHED
    assert controller.promote(3.0) == [Complete()]
    assert manual.phase is Phase.HEALTHY


def test_verdict_values_are_strings_for_json() -> None:
    assert str(Verdict.PASS) == "pass"
