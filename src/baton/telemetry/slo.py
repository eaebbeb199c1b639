"""Service level objectives and the burn-rate rules that watch them.

An SLO says which share of a service's (or one route's) requests must be *good* over a compliance window:

* ``availability``: good = not answered 5xx;
* ``latency``: good = answered within ``threshold`` seconds (read off the histogram bucket whose ``le`` is the
  largest bound not above the threshold, see :func:`~baton.telemetry.red.latency_bucket`).

The ``slos:`` section of ``baton.yaml`` is a list of mappings, parsed by :func:`slos_from_mapping`::

    slos:
      - name: checkout-latency
        service: order
        route: /v1/checkout          # optional: the whole service when absent
        objective: 99.0              # percent of good requests
        latency_ms: 300              # or `threshold: 300ms`; makes it a latency SLO
        window: 30d                  # default 30d
        runbook: https://runbooks.example/checkout
      - {name: order-availability, service: order, objective: 99.9}

Alerts follow the Google SRE workbook's multi-window multi-burn-rate recipe (:data:`DEFAULT_RULES`): an alert
fires when the error budget burns ``factor`` times faster than sustainable over *both* a long window (so it is
significant) and a short one (so it stops soon after the problem does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from baton.errors import ConfigError
from baton.telemetry.red import latency_bucket

__all__ = ["DEFAULT_RULES", "SLO", "BurnRateRule", "parse_duration", "slos_from_mapping"]

Sli = Literal["availability", "latency"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}
_DAY = 86400.0


@dataclass(frozen=True)
class SLO:
    """One objective. Percentages are 0..100; durations are seconds."""

    name: str
    service: str
    objective: float = 99.9
    """Percent of requests that must be good over ``window``."""
    sli: Sli = "availability"
    threshold: float | None = None
    """Latency SLOs: seconds within which a request is good."""
    route: str | None = None
    """Route template (``/v1/checkout``); ``None`` covers the whole service."""
    window: float = 30 * _DAY
    """Compliance window (seconds)."""
    runbook: str | None = None
    """Link shown on alerts and incidents."""

    def __post_init__(self) -> None:
        if not 0.0 < self.objective < 100.0:
            raise ConfigError(
                f"slo {self.name!r}: objective must be between 0 and 100 (exclusive), got {self.objective}"
            )
        if self.sli == "latency" and (self.threshold is None or self.threshold <= 0):
            raise ConfigError(f"slo {self.name!r}: a latency SLO needs a positive threshold (latency_ms: 300)")
        if self.window <= 0:
            raise ConfigError(f"slo {self.name!r}: window must be positive")

    @property
    def budget(self) -> float:
        """The allowed share of bad requests (0.01 for 99%)."""
        return 1.0 - self.objective / 100.0

    @property
    def latency_bound(self) -> float | None:
        """The histogram ``le`` bound that judges latency (``None`` for availability SLOs)."""
        return latency_bucket(self.threshold) if self.sli == "latency" and self.threshold is not None else None


@dataclass(frozen=True)
class BurnRateRule:
    """Fire when the budget burns faster than ``factor`` over both windows (seconds)."""

    severity: Literal["page", "ticket"]
    long_window: float
    short_window: float
    factor: float
    """Burn rate threshold; 1.0 spends exactly the budget over the SLO window."""


#: The SRE workbook's table for a 30-day window: 2% of the budget in 1 h or 5% in 6 h pages, 10% in 3 d opens
#: a ticket. The factors assume a 30-day window; shorter windows spend proportionally faster.
DEFAULT_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule("page", long_window=3600.0, short_window=300.0, factor=14.4),
    BurnRateRule("page", long_window=6 * 3600.0, short_window=1800.0, factor=6.0),
    BurnRateRule("ticket", long_window=_DAY, short_window=2 * 3600.0, factor=3.0),
    BurnRateRule("ticket", long_window=3 * _DAY, short_window=6 * 3600.0, factor=1.0),
)


def parse_duration(value: Any, *, field: str = "duration") -> float:
    """Seconds from a number or a string like ``250ms``, ``30s``, ``5m``, ``6h``, ``30d``, ``2w``.

    Raises:
        ConfigError: anything else.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT[match.group(2)]
    raise ConfigError(f"{field}: expected a duration such as '300ms', '6h' or '30d', got {value!r}")


def slos_from_mapping(items: Iterable[Mapping[str, Any] | Any]) -> list[SLO]:
    """Parse the ``slos:`` section (see the module docstring); pydantic models are accepted via ``model_dump``.

    Besides the documented keys, the manifest's spelling is understood: ``sli`` and ``threshold`` in seconds.

    Raises:
        ConfigError: a missing or invalid field, or two SLOs with the same name.
    """
    slos: list[SLO] = []
    for index, item in enumerate(items):
        raw = item.model_dump() if hasattr(item, "model_dump") else item
        if not isinstance(raw, Mapping):
            raise ConfigError(f"slos[{index}]: expected a mapping, got {type(raw).__name__}")
        slos.append(_slo(raw, f"slos[{index}]"))
    names = [s.name for s in slos]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"slos: duplicate names {duplicates}")
    return slos


def _slo(raw: Mapping[str, Any], where: str) -> SLO:
    known = {"name", "service", "route", "objective", "sli", "latency_ms", "threshold", "window", "runbook"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown} (known: {sorted(known)})")
    for key in ("name", "service"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{where}.{key}: required string")
    threshold: float | None = None
    if raw.get("latency_ms") is not None:
        threshold = parse_duration(raw["latency_ms"], field=f"{where}.latency_ms") / 1000.0
    elif raw.get("threshold") is not None:
        threshold = parse_duration(raw["threshold"], field=f"{where}.threshold")
    sli_name = raw.get("sli") or ("latency" if threshold is not None else "availability")
    if sli_name not in ("availability", "latency"):
        raise ConfigError(f"{where}.sli: must be 'availability' or 'latency', got {sli_name!r}")
    sli: Sli = "latency" if sli_name == "latency" else "availability"
    objective = raw.get("objective", 99.9)
    if isinstance(objective, bool) or not isinstance(objective, int | float):
        raise ConfigError(f"{where}.objective: expected a percentage such as 99.9, got {objective!r}")
    window = raw.get("window")
    try:
        return SLO(
            name=raw["name"],
            service=raw["service"],
            route=raw.get("route"),
            objective=float(objective),
            sli=sli,
            threshold=threshold,
            window=30 * _DAY if window is None else parse_duration(window, field=f"{where}.window"),
            runbook=raw.get("runbook"),
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}") from exc
