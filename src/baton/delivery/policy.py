"""Rollout policies: what a release strategy does and how strict its analysis is, as frozen data.

They are built from the manifest's ``rollouts:`` entry (:meth:`RolloutPolicy.from_spec`); every default below is
the manifest's default, so a service without an entry still gets a sensible (rolling) delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from baton.control.manifest import RolloutSpec

Strategy = Literal["rolling", "canary", "blue_green"]


@dataclass(frozen=True, slots=True)
class AnalysisPolicy:
    """Thresholds that judge a new version against the stable one (Flagger's defaults where it has them)."""

    interval: float = 30.0
    """Seconds of traffic one analysis covers; a step lasts at least this long."""
    max_error_rate: float = 0.01
    """5xx share the canary may exceed the stable version's by (success rate >= 99% on a clean baseline)."""
    max_p99: float = 0.5
    """Seconds: a canary p99 above this fails, whatever the baseline."""
    max_p99_ratio: float = 1.5
    """Canary p99 / stable p99 above which the canary fails (when it is also ``p99_slack`` slower)."""
    p99_slack: float = 0.05
    """Seconds of p99 difference ignored: a 4 ms vs 7 ms service is not "twice as slow"."""
    max_burn_rate: float = 14.4
    """Error-budget burn rate of the canary's traffic above which it fails (per SLO of the service)."""
    min_requests: int = 20
    """Canary requests needed before an analysis counts; fewer is inconclusive."""
    check_every: float = 1.0
    """Seconds between two analyses inside a step: a failing canary is caught this soon, not at the step end."""


@dataclass(frozen=True, slots=True)
class CanaryPolicy:
    """Canary steps: traffic percentages, each held for one analysis interval."""

    steps: tuple[int, ...] = (5, 10, 25, 50, 100)
    """Increasing weights of the new version; the last one should be 100."""
    max_holds: int = 2
    """Intervals a step may be extended for lack of traffic before the rollout rolls back."""

    def __post_init__(self) -> None:
        if not self.steps or list(self.steps) != sorted(set(self.steps)) or not 0 < self.steps[0] <= 100:
            raise ValueError("canary steps must be increasing percentages between 1 and 100")


@dataclass(frozen=True, slots=True)
class BlueGreenPolicy:
    """Blue-green: preview, verify, switch, keep the old version warm."""

    keep_warm: float = 300.0
    """Seconds the previous version keeps running after the switch (``baton rollout undo`` is instant meanwhile)."""
    auto_promote: bool = True
    """Switch as soon as the preview is verified; otherwise wait for ``baton rollout promote``."""
    preview_requests: int = 5
    """Requests sent through the gateway's preview route to verify the new version before the switch."""


@dataclass(frozen=True, slots=True)
class RolloutPolicy:
    """Everything a rollout of one service needs to know."""

    strategy: Strategy = "rolling"
    analysis: AnalysisPolicy = field(default_factory=AnalysisPolicy)
    canary: CanaryPolicy = field(default_factory=CanaryPolicy)
    blue_green: BlueGreenPolicy = field(default_factory=BlueGreenPolicy)
    webhooks: tuple[str, ...] = ()
    """URLs notified (best effort, JSON POST) of every rollout event."""

    @classmethod
    def from_spec(cls, spec: RolloutSpec | None) -> RolloutPolicy:
        """The policy of a manifest ``rollouts:`` entry (``None``: a rolling update with defaults)."""
        if spec is None:
            return cls()
        analysis = AnalysisPolicy(
            interval=spec.interval,
            max_error_rate=spec.max_error_rate,
            max_p99=spec.max_p99,
            max_p99_ratio=spec.max_p99_ratio,
            p99_slack=spec.p99_slack,
            max_burn_rate=spec.max_burn_rate,
            min_requests=spec.min_requests,
            # Ten looks per interval, but not busier than 4/s nor lazier than every 2 s: the rollback latency
            # target is "one interval + 2 s" and a look costs one scrape of the service's instances.
            check_every=min(2.0, max(0.25, spec.interval / 10)),
        )
        return cls(
            strategy=spec.strategy,
            analysis=analysis,
            canary=CanaryPolicy(steps=tuple(spec.steps), max_holds=spec.max_holds),
            blue_green=BlueGreenPolicy(keep_warm=spec.keep_warm, auto_promote=spec.auto_promote),
            webhooks=tuple(spec.webhooks),
        )
