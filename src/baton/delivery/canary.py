"""The canary state machine: step through weights, analyse each step, promote or roll back.

::

    start ─▶ SetWeight(5) ─▶ [analyse every check; a FAIL rolls back at once]
          ─▶ interval passed and PASS ─▶ SetWeight(10) ─▶ … ─▶ SetWeight(100) + Complete   (healthy)
          ─▶ interval passed, too little traffic ─▶ hold the step (at most ``max_holds`` times) ─▶ roll back
          ─▶ FAIL ─▶ SetWeight(0) + Rollback                                                (rolled_back)

Steps are Argo Rollouts' ``setWeight`` + ``pause: {duration: interval}`` + analysis, compiled from the manifest's
``steps``. A last step of 100 is reached without analysis at 100 % (there would be no stable traffic left to
compare with); a last step below 100 promotes to 100 once it passes.
"""

from __future__ import annotations

from baton.delivery.analysis import Analysis, Verdict
from baton.delivery.policy import AnalysisPolicy, CanaryPolicy
from baton.delivery.state import Action, Complete, Phase, Rollback, RolloutState, SetWeight

__all__ = ["CanaryController"]


class CanaryController:
    """Drives one :class:`RolloutState` through the canary steps of ``policy``."""

    def __init__(self, state: RolloutState, policy: CanaryPolicy, analysis: AnalysisPolicy) -> None:
        self.state = state
        self.policy = policy
        self.analysis = analysis
        state.steps = policy.steps

    def start(self, now: float) -> list[Action]:
        """Send the first step's share of traffic to the new version."""
        state = self.state
        state.phase = Phase.PROGRESSING
        return self._enter(now, 0)

    def window(self, now: float) -> float:
        """Seconds of traffic the next analysis should cover: the current step so far, at most one interval."""
        return max(0.0, min(self.analysis.interval, now - self.state.step_started_at))

    def observe(self, analysis: Analysis) -> list[Action]:
        """Fold one analysis in: roll back on failure, advance once the step's interval passed cleanly."""
        state = self.state
        if state.phase is not Phase.PROGRESSING:
            return []
        now = analysis.at
        state.record(analysis)
        if analysis.verdict is Verdict.FAIL:
            return self._rollback(now, f"analysis failed at {state.weight}%: {analysis.reason}")
        if now - state.step_started_at < self.analysis.interval:
            return []
        if analysis.verdict is Verdict.INCONCLUSIVE:
            state.holds += 1
            seen = int(analysis.canary.requests)
            if state.holds > self.policy.max_holds:
                return self._rollback(
                    now, f"not enough traffic to judge: {seen} canary requests < {self.analysis.min_requests}"
                )
            state.step_started_at = now
            state.note(now, "hold", f"step {state.weight}% held: {seen} canary requests < {self.analysis.min_requests}")
            return []
        return self._enter(now, state.step + 1)

    def promote(self, now: float, *, full: bool = False) -> list[Action]:
        """Skip the rest of the current step (``full``: every step) — Argo's ``promote`` / ``promote --full``."""
        state = self.state
        if state.phase is not Phase.PROGRESSING:
            return []
        state.note(now, "promote", "promoted by the operator" + (" (full)" if full else ""))
        return self._enter(now, len(self.policy.steps) if full else state.step + 1)

    def abort(self, now: float, reason: str = "aborted by the operator") -> list[Action]:
        """Move all traffic back to the stable version and stop the new one (no incident)."""
        if self.state.done:
            return []
        self.state.weight = 0
        self.state.finish(now, Phase.ABORTED, reason)
        return [SetWeight(0), Rollback(reason, failed=False)]

    def _enter(self, now: float, index: int) -> list[Action]:
        state = self.state
        steps = self.policy.steps
        if index >= len(steps) or steps[index] >= 100:
            state.step = min(index, len(steps) - 1) if steps[-1] >= 100 else len(steps)
            state.weight = 100
            state.finish(now, Phase.HEALTHY, f"{state.new_version} promoted: 100% of traffic, now stable")
            return [SetWeight(100), Complete()]
        state.step = index
        state.weight = steps[index]
        state.step_started_at = now
        state.holds = 0
        state.note(now, "step", f"step {index + 1}/{len(steps)}: {state.weight}% to {state.new_version}")
        return [SetWeight(state.weight)]

    def _rollback(self, now: float, reason: str) -> list[Action]:
        state = self.state
        state.weight = 0
        state.finish(now, Phase.ROLLED_BACK, reason)
        return [SetWeight(0), Rollback(reason)]
