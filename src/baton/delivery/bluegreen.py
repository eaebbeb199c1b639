"""The blue-green state machine: preview, verify, switch all at once, keep the old version warm, finish.

::

    start ─▶ SetWeight(0) (new version reachable only through the preview route)
          ─▶ preview verified ─▶ auto_promote? ─▶ SetWeight(100)             (switched; old version warm)
                                └─ no ─▶ paused until ``promote``
          ─▶ preview failed ─▶ Rollback                                       (rolled_back)
    switched ─▶ analysis FAIL ─▶ SetWeight(0) + Rollback                       (rolled_back, switched back)
             ─▶ ``undo`` ─▶ SetWeight(0) + Rollback(failed=False)              (aborted, switched back)
             ─▶ keep_warm passed (or ``promote``) ─▶ Complete                  (healthy: old version stopped)

Argo Rollouts' ``blueGreen`` with ``previewService``, ``prePromotionAnalysis`` (the preview check),
``postPromotionAnalysis`` (analysis while switched) and ``scaleDownDelaySeconds`` (``keep_warm``).
"""

from __future__ import annotations

from baton.delivery.analysis import Analysis, Verdict
from baton.delivery.policy import AnalysisPolicy, BlueGreenPolicy
from baton.delivery.state import Action, Complete, Phase, Rollback, RolloutState, SetWeight

__all__ = ["BlueGreenController"]


class BlueGreenController:
    """Drives one :class:`RolloutState` through a blue-green release."""

    def __init__(self, state: RolloutState, policy: BlueGreenPolicy, analysis: AnalysisPolicy) -> None:
        self.state = state
        self.policy = policy
        self.analysis = analysis
        self.switched_at: float | None = None
        state.steps = (0, 100)

    def start(self, now: float) -> list[Action]:
        """The new version runs beside the old one and takes no public traffic; only the preview route reaches it."""
        state = self.state
        state.phase = Phase.PROGRESSING
        state.weight = 0
        state.step = 0
        state.step_started_at = now
        state.note(now, "preview", f"{state.new_version} up beside {state.stable_version}; preview route open")
        return [SetWeight(0)]

    def preview_verified(self, now: float, ok: bool, detail: str) -> list[Action]:
        """The preview check's outcome: switch (or wait for ``promote``), or roll back."""
        state = self.state
        if state.phase is not Phase.PROGRESSING:
            return []
        if not ok:
            state.finish(now, Phase.ROLLED_BACK, f"preview verification failed: {detail}")
            return [SetWeight(0), Rollback(f"preview verification failed: {detail}")]
        state.note(now, "verified", f"preview verified: {detail}")
        if not self.policy.auto_promote:
            state.phase = Phase.PAUSED
            state.note(now, "paused", "waiting for `baton rollout promote`")
            return []
        return self._switch(now)

    def window(self, now: float) -> float:
        """Seconds of traffic the next analysis covers: since the switch, at most one interval."""
        if self.switched_at is None:
            return 0.0
        return max(0.0, min(self.analysis.interval, now - self.switched_at))

    def observe(self, analysis: Analysis) -> list[Action]:
        """While switched: roll back on a failing analysis, finish once ``keep_warm`` has passed."""
        state = self.state
        if state.phase is not Phase.SWITCHED or self.switched_at is None:
            return []
        now = analysis.at
        state.record(analysis)
        if analysis.verdict is Verdict.FAIL:
            reason = f"analysis failed after the switch: {analysis.reason}"
            state.weight = 0
            state.finish(now, Phase.ROLLED_BACK, reason)
            return [SetWeight(0), Rollback(reason)]
        return self.tick(now)

    def tick(self, now: float) -> list[Action]:
        """Time-based transitions: the end of the keep-warm period."""
        state = self.state
        warm = self.switched_at is not None and now - self.switched_at < self.policy.keep_warm
        if state.phase is Phase.SWITCHED and self.switched_at is not None and not warm:
            return self._complete(now, f"{state.stable_version} kept warm {self.policy.keep_warm:g}s; stopped")
        return []

    def promote(self, now: float, *, full: bool = False) -> list[Action]:
        """Switch now (while previewing or paused); once switched, stop the old version now instead of later."""
        state = self.state
        if state.phase in (Phase.PROGRESSING, Phase.PAUSED):
            state.note(now, "promote", "promoted by the operator")
            return self._switch(now)
        if state.phase is Phase.SWITCHED:
            return self._complete(now, f"promoted by the operator; {state.stable_version} stopped")
        return []

    def undo(self, now: float) -> list[Action]:
        """Switch back to the old version instantly (it is still warm)."""
        return self.abort(now, "undone by the operator: traffic back on the previous version")

    def abort(self, now: float, reason: str = "aborted by the operator") -> list[Action]:
        """All traffic to the old version, the new one stopped (no incident)."""
        state = self.state
        if state.done:
            return []
        state.weight = 0
        state.finish(now, Phase.ABORTED, reason)
        return [SetWeight(0), Rollback(reason, failed=False)]

    def _switch(self, now: float) -> list[Action]:
        state = self.state
        state.phase = Phase.SWITCHED
        state.weight = 100
        state.step = 1
        state.step_started_at = now
        self.switched_at = now
        state.note(now, "switched", f"all traffic on {state.new_version}; {state.stable_version} kept warm")
        return [SetWeight(100)]

    def _complete(self, now: float, message: str) -> list[Action]:
        self.state.finish(now, Phase.HEALTHY, message)
        return [Complete()]
