"""Canary analysis: the new version's traffic against the stable version's, over the same interval.

Three checks, Flagger's and the SRE workbook's (each can fail the canary on its own):

* **error rate** — the canary's 5xx share may exceed the stable version's by at most ``max_error_rate``
  (a downstream outage that fails both versions alike is not the canary's fault: error rates must stay *flat*);
* **p99 latency** — above ``max_p99`` seconds fails outright; above ``max_p99_ratio`` × the stable p99 fails when it
  is also more than ``p99_slack`` slower (so a 4 ms vs 7 ms service is not "twice as slow");
* **SLO burn rate** — for every SLO of the service (and its route), the canary's bad-request share divided by the
  SLO's error budget; above ``max_burn_rate`` (14.4: the fast-burn page rule) fails.

:func:`judge` is pure (``Stats`` in, :class:`Analysis` out) so the table of outcomes is unit-tested;
:class:`MetricAnalyzer` measures ``Stats`` from a :class:`~baton.telemetry.window.MetricWindow` of scraped
``/metrics`` split by instance (an instance belongs to exactly one version).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from baton.delivery.policy import AnalysisPolicy
from baton.telemetry.red import HTTP_DURATION, SERVER_ERROR, latency_quantile
from baton.telemetry.slo import SLO
from baton.telemetry.window import MetricWindow

__all__ = ["Analysis", "Analyzer", "Check", "MetricAnalyzer", "Stats", "Verdict", "judge"]


class Verdict(StrEnum):
    """Outcome of one analysis."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    """Not enough canary traffic to tell."""


@dataclass(frozen=True, slots=True)
class Stats:
    """What one version did over an interval."""

    requests: float = 0.0
    errors: float = 0.0
    """Requests answered 5xx."""
    p99: float | None = None
    """Seconds; ``None`` without traffic."""
    burn: Mapping[str, float] = field(default_factory=dict)
    """Burn rate per SLO name over the interval."""

    @property
    def error_rate(self) -> float | None:
        """5xx share, ``None`` without traffic."""
        return self.errors / self.requests if self.requests > 0 else None


@dataclass(frozen=True, slots=True)
class Check:
    """One metric of one analysis, with its threshold and whether it passed (``None``: not measurable)."""

    name: str
    value: float | None
    threshold: float
    ok: bool | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Analysis:
    """One look at the canary: its verdict, the checks behind it and both versions' figures."""

    at: float
    window: float
    """Seconds of traffic looked at."""
    verdict: Verdict
    checks: tuple[Check, ...]
    canary: Stats
    stable: Stats

    @property
    def reason(self) -> str:
        """The failing checks in one line (empty when none failed)."""
        return "; ".join(c.detail for c in self.checks if c.ok is False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (status, incidents, webhooks)."""
        return {
            "at": self.at,
            "window": self.window,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "checks": [asdict(c) for c in self.checks],
            "canary": _stats_dict(self.canary),
            "stable": _stats_dict(self.stable),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        """Parse :meth:`as_dict` output (a persisted rollout's analyses)."""
        return cls(
            at=float(data["at"]),
            window=float(data["window"]),
            verdict=Verdict(data["verdict"]),
            checks=tuple(Check(**check) for check in data.get("checks", ())),
            canary=_stats(data.get("canary") or {}),
            stable=_stats(data.get("stable") or {}),
        )


def _stats(data: dict[str, Any]) -> Stats:
    return Stats(
        requests=float(data.get("requests", 0.0)),
        errors=float(data.get("errors", 0.0)),
        p99=data.get("p99"),
        burn=dict(data.get("burn") or {}),
    )


def _stats_dict(stats: Stats) -> dict[str, Any]:
    return {
        "requests": stats.requests,
        "errors": stats.errors,
        "error_rate": stats.error_rate,
        "p99": stats.p99,
        "burn": dict(stats.burn),
    }


def judge(canary: Stats, stable: Stats, policy: AnalysisPolicy, *, at: float, window: float) -> Analysis:
    """Compare ``canary`` with ``stable`` under ``policy`` (see the module docstring)."""
    checks: list[Check] = []
    enough = canary.requests >= policy.min_requests
    base_errors = stable.error_rate or 0.0
    rate = canary.error_rate
    limit = base_errors + policy.max_error_rate
    checks.append(
        Check(
            "error_rate",
            rate,
            limit,
            None if rate is None or not enough else rate <= limit,
            f"error rate {_pct(rate)} > {_pct(limit)} (stable {_pct(stable.error_rate)})",
        )
    )
    p99 = canary.p99
    if p99 is None or not enough:
        checks.append(Check("p99", p99, policy.max_p99, None))
    else:
        too_slow = p99 > policy.max_p99
        base = stable.p99
        relative = base is not None and p99 > base * policy.max_p99_ratio and p99 - base > policy.p99_slack
        bound = policy.max_p99 if too_slow or base is None else min(policy.max_p99, base * policy.max_p99_ratio)
        over = _ms(policy.max_p99) if too_slow else f"{policy.max_p99_ratio:g}x stable {_ms(base)}"
        checks.append(Check("p99", p99, bound, not (too_slow or relative), f"p99 {_ms(p99)} > {over}"))
    for slo, burn in sorted(canary.burn.items()):
        ok = None if not enough else burn <= policy.max_burn_rate
        checks.append(
            Check(
                f"burn:{slo}",
                burn,
                policy.max_burn_rate,
                ok,
                f"SLO {slo} burning {burn:.1f}x > {policy.max_burn_rate:g}x",
            )
        )
    if any(c.ok is False for c in checks):
        verdict = Verdict.FAIL
    elif not enough:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.PASS
    return Analysis(at=at, window=window, verdict=verdict, checks=tuple(checks), canary=canary, stable=stable)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}ms"


class Analyzer(Protocol):
    """Measures the canary and the stable version over the last ``over`` seconds and judges them."""

    async def analyse(self, *, over: float, now: float) -> Analysis:
        """One analysis of the traffic in ``(now - over, now]``."""
        ...


class MetricAnalyzer:
    """Measures versions from a window of scraped kit metrics; instances are told apart by their ``instance`` label."""

    def __init__(
        self,
        window: MetricWindow,
        *,
        service: str,
        policy: AnalysisPolicy,
        slos: Sequence[SLO] = (),
    ) -> None:
        self.window = window
        self.service = service
        self.policy = policy
        self.slos = [s for s in slos if s.service == service]

    def measure(self, instances: Iterable[str], *, over: float, now: float) -> Stats:
        """The figures of the instances named in ``instances`` over the last ``over`` seconds."""
        ids = sorted(set(instances))
        if not ids:
            return Stats()
        matchers: dict[str, str | re.Pattern[str]] = {
            "service": self.service,
            "instance": re.compile("|".join(re.escape(i) for i in ids)),
        }
        count = f"{HTTP_DURATION}_count"
        requests = self.window.increase(count, matchers, window=over, now=now)
        errors = self.window.increase(
            count, {**matchers, "http_response_status_code": SERVER_ERROR}, window=over, now=now
        )
        p99 = latency_quantile(self.window, 0.99, matchers, over=over, now=now)
        burn: dict[str, float] = {}
        for slo in self.slos:
            burn[slo.name] = self._burn(slo, matchers, over=over, now=now)
        return Stats(requests=requests, errors=errors, p99=p99, burn=burn)

    def _burn(self, slo: SLO, matchers: Mapping[str, str | re.Pattern[str]], *, over: float, now: float) -> float:
        scoped = dict(matchers)
        if slo.route is not None:
            scoped["http_route"] = slo.route
        count = f"{HTTP_DURATION}_count"
        total = self.window.increase(count, scoped, window=over, now=now)
        if total <= 0:
            return 0.0
        if slo.sli == "availability":
            bad = self.window.increase(
                count, {**scoped, "http_response_status_code": SERVER_ERROR}, window=over, now=now
            )
        else:
            bound = slo.latency_bound or 0.0
            by_le = self.window.increase_by(f"{HTTP_DURATION}_bucket", "le", scoped, window=over, now=now)
            good = sum(v for le, v in by_le.items() if le not in ("+Inf", "Inf") and abs(float(le) - bound) < 1e-9)
            bad = max(0.0, total - good)
        return (bad / total) / slo.budget

    def compare(self, canary: Iterable[str], stable: Iterable[str], *, over: float, now: float) -> Analysis:
        """Measure both sets of instances and :func:`judge` them."""
        return judge(
            self.measure(canary, over=over, now=now),
            self.measure(stable, over=over, now=now),
            self.policy,
            at=now,
            window=over,
        )
