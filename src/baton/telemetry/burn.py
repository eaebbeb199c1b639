"""Live SLO evaluation: burn rates, multi-window alerts and error budget remaining.

Every :meth:`SloEvaluator.tick` reads, from the scraped :class:`~baton.telemetry.window.MetricWindow`, how many
requests of each SLO were good and bad since the previous tick, and appends the running totals to that SLO's
:class:`SliLedger` — a ring of cumulative ``(time, bad, total)`` points at ``step`` resolution. Burn rates for any
window (5 minutes to 30 days) are differences between two ledger points, so the ledger costs a few floats per SLO
per minute however many series the services expose; the raw window only has to cover one tick.

The clock is injectable: tests drive hours of traffic in microseconds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from baton.telemetry.alerts import Alert
from baton.telemetry.red import HTTP_DURATION, SERVER_ERROR, latency_bucket, selector
from baton.telemetry.slo import DEFAULT_RULES, SLO, BurnRateRule
from baton.telemetry.window import MetricWindow

__all__ = ["BurnAlert", "SliLedger", "SloEvaluator", "SloStatus", "slo_counts"]


class SliLedger:
    """Cumulative ``(time, bad, total)`` points of one SLI, at least ``step`` seconds apart, ``horizon`` long."""

    def __init__(self, *, step: float = 60.0, horizon: float = 30 * 86400.0) -> None:
        self.step = step
        self.horizon = horizon
        self.points: deque[tuple[float, float, float]] = deque()

    def record(self, at: float, bad: float, total: float) -> None:
        """Add ``bad`` of ``total`` requests seen since the last record, at Unix time ``at``."""
        last_bad, last_total = (self.points[-1][1], self.points[-1][2]) if self.points else (0.0, 0.0)
        point = (at, last_bad + bad, last_total + total)
        # One point per step: the newest point keeps moving forward until it is a full step past the one
        # before it; then it stays, and the next record starts a new point.
        if len(self.points) >= 2 and self.points[-1][0] - self.points[-2][0] < self.step:
            self.points[-1] = point
        else:
            self.points.append(point)
        while len(self.points) > 2 and self.points[1][0] < at - self.horizon:
            self.points.popleft()

    def over(self, window: float, now: float) -> tuple[float, float]:
        """``(bad, total)`` in ``(now - window, now]``; limited to the history the ledger has."""
        if not self.points:
            return 0.0, 0.0
        end = self._at(now)
        start = self._at(now - window)
        if end is None:
            return 0.0, 0.0
        # No point that old: the history is shorter than the window, and all of it counts.
        start_bad, start_total = (0.0, 0.0) if start is None else (start[1], start[2])
        return end[1] - start_bad, end[2] - start_total

    def _at(self, t: float) -> tuple[float, float, float] | None:
        for point in reversed(self.points):
            if point[0] <= t:
                return point
        return None


@dataclass(frozen=True)
class BurnAlert:
    """A burn-rate rule that fires for an SLO."""

    slo: SLO
    rule: BurnRateRule
    long_burn: float
    short_burn: float

    def alert(self) -> Alert:
        """As an :class:`Alert` for incidents (one key per SLO and severity)."""
        where = f"{self.slo.service}{' ' + self.slo.route if self.slo.route else ''}"
        return Alert(
            key=f"slo:{self.slo.name}:{self.rule.severity}",
            service=self.slo.service,
            severity=self.rule.severity,
            summary=(
                f"{self.slo.name}: error budget burning {self.long_burn:.1f}x over "
                f"{_human(self.rule.long_window)} ({where}, objective {self.slo.objective}%)"
            ),
            runbook=self.slo.runbook,
            labels={"slo": self.slo.name, "sli": self.slo.sli},
        )


@dataclass(frozen=True)
class SloStatus:
    """Where one SLO stands at ``at``."""

    slo: SLO
    at: float
    good_ratio: float | None
    """Share of good requests over the SLO window (``None`` without traffic)."""
    budget_remaining: float
    """1.0 = untouched, 0.0 = spent, negative = overspent."""
    burn_rates: dict[float, float] = field(default_factory=dict)
    """Burn rate per window length (seconds) used by the rules."""
    firing: tuple[BurnAlert, ...] = ()

    @property
    def alerts(self) -> list[Alert]:
        """Firing alerts, one per severity (the most significant rule wins)."""
        by_severity: dict[str, BurnAlert] = {}
        for burn in self.firing:
            by_severity.setdefault(burn.rule.severity, burn)
        return [b.alert() for b in by_severity.values()]


def slo_counts(window: MetricWindow, slo: SLO, *, over: float, now: float) -> tuple[float, float]:
    """``(bad, total)`` requests of ``slo`` in the last ``over`` seconds of ``window``."""
    matchers = selector(slo.service, slo.route)
    total = window.increase(f"{HTTP_DURATION}_count", matchers, window=over, now=now)
    if slo.sli == "availability":
        bad = window.increase(
            f"{HTTP_DURATION}_count", {**matchers, "http_response_status_code": SERVER_ERROR}, window=over, now=now
        )
        return bad, total
    bound = latency_bucket(slo.threshold or 0.0)
    good = sum(
        v
        for le, v in window.increase_by(f"{HTTP_DURATION}_bucket", "le", matchers, window=over, now=now).items()
        if le not in ("+Inf", "Inf") and abs(float(le) - bound) < 1e-9
    )
    return max(0.0, total - good), total


class SloEvaluator:
    """Evaluates ``slos`` against ``window`` on every :meth:`tick`."""

    def __init__(
        self,
        slos: Sequence[SLO],
        window: MetricWindow,
        *,
        rules: Sequence[BurnRateRule] = DEFAULT_RULES,
        step: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.slos = list(slos)
        self.window = window
        self.rules = tuple(rules)
        self.clock = clock
        self.ledgers = {
            s.name: SliLedger(step=step, horizon=max(s.window, *(r.long_window for r in rules))) for s in slos
        }
        self._last: float | None = None
        self._status: list[SloStatus] = []

    def tick(self, now: float | None = None) -> list[SloStatus]:
        """Fold the traffic since the previous tick into the ledgers and evaluate every SLO."""
        now = self.clock() if now is None else now
        since = self._last
        self._last = now
        for slo in self.slos:
            if since is None:
                # The first tick only sets the baseline: what happened before it has no time resolution.
                self.ledgers[slo.name].record(now, 0.0, 0.0)
            else:
                bad, total = slo_counts(self.window, slo, over=now - since, now=now)
                self.ledgers[slo.name].record(now, bad, total)
        self._status = [self._evaluate(slo, now) for slo in self.slos]
        return self._status

    def status(self) -> list[SloStatus]:
        """The result of the latest tick."""
        return list(self._status)

    def firing(self) -> list[Alert]:
        """Alerts firing at the latest tick."""
        return [alert for status in self._status for alert in status.alerts]

    def _evaluate(self, slo: SLO, now: float) -> SloStatus:
        ledger = self.ledgers[slo.name]
        burns: dict[float, float] = {}
        for rule in self.rules:
            for length in (rule.long_window, rule.short_window):
                if length not in burns:
                    bad, total = ledger.over(length, now)
                    burns[length] = (bad / total) / slo.budget if total > 0 else 0.0
        firing = tuple(
            BurnAlert(slo, rule, burns[rule.long_window], burns[rule.short_window])
            for rule in self.rules
            if burns[rule.long_window] > rule.factor and burns[rule.short_window] > rule.factor
        )
        bad, total = ledger.over(slo.window, now)
        return SloStatus(
            slo=slo,
            at=now,
            good_ratio=None if total <= 0 else 1.0 - bad / total,
            budget_remaining=1.0 - ((bad / total) / slo.budget if total > 0 else 0.0),
            burn_rates=burns,
            firing=firing,
        )


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
