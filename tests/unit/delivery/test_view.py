"""The rollouts page (Argo-Rollouts-like): the weight bar, each step with its own analysis results, the checks."""

from __future__ import annotations

from baton.delivery import AnalysisPolicy, Phase, RolloutState, Stats, judge
from baton.delivery.view import rollouts_page

POLICY = AnalysisPolicy(interval=10.0, min_requests=20)
GOOD = (Stats(100, 0, 0.01), Stats(1000, 0, 0.01))
BAD = (Stats(100, 30, 0.01), Stats(1000, 0, 0.01))


def test_each_step_shows_its_analyses_and_the_failing_check() -> None:
    state = RolloutState(service="web", strategy="canary", stable_version="1.0", new_version="1.1", started_at=0.0)
    state.steps = (5, 25, 100)
    state.weight, state.step = 5, 0
    state.note(10.0, "step", "step 1/3: 5% to 1.1")
    state.record(judge(*GOOD, POLICY, at=12.0, window=2.0))
    state.record(judge(*GOOD, POLICY, at=15.0, window=5.0))
    state.weight, state.step = 25, 1
    state.note(20.0, "step", "step 2/3: 25% to 1.1")
    state.record(judge(*BAD, POLICY, at=22.0, window=2.0))
    state.weight = 0
    state.finish(22.0, Phase.ROLLED_BACK, "analysis failed at 25%: error rate")

    page = rollouts_page([state.as_dict() | {"instances": {}}], system="shop")

    first, second, last = page.split('<li class="step')[1:4]
    assert "setWeight 5%" in first
    assert "2 analyses: ✓2" in first
    assert "setWeight 25%" in second
    assert "1 analyses: ✗1" in second
    assert "error_rate" in second  # the failing check, on the run's mark
    assert "analyses" not in last  # never reached
    assert "✗ fail" in page  # the latest analysis' check table
    assert "rolled_back" in page
