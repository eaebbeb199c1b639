"""JSON views of what the control plane observes: RED per service/route, SLO status, breakers and bulkheads,
and the topology drawn from traces. Pure functions over the window, the evaluator's status and spans, so the API,
the dashboard and ``baton top`` show the same numbers."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from baton.telemetry.burn import SloStatus
from baton.telemetry.red import HTTP_DURATION, error_ratio, latency_quantile, request_rate
from baton.telemetry.slo import SLO
from baton.telemetry.spans import SpanRecord, SpanStore, TraceQuery
from baton.telemetry.window import MetricWindow

__all__ = [
    "BREAKER_STATES",
    "HOUSEKEEPING",
    "red_view",
    "resilience_view",
    "slo_view",
    "topology_edges",
    "topology_view",
]

BREAKER_STATES = {
    0: "closed",
    1: "open",
    2: "half_open",
    3: "disabled",
    4: "forced_open",
    5: "forced_closed",
    6: "metrics_only",
}
"""``baton_client_breaker_state`` values (see :mod:`baton.client.metrics`)."""

HOUSEKEEPING = frozenset({"GET /metrics", "GET /livez", "GET /readyz"})
"""Root spans of the control plane's own scrapes and probes: hidden from trace listings unless asked for."""


def _finite(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else round(value, digits)


def _red_row(
    window: MetricWindow, matchers: dict[str, Any], *, over: float, now: float, step: float, points: int
) -> dict[str, Any]:
    p50 = latency_quantile(window, 0.5, matchers, over=over, now=now)
    p99 = latency_quantile(window, 0.99, matchers, over=over, now=now)
    times = [now - step * i for i in reversed(range(points))]
    return {
        "rate": _finite(request_rate(window, matchers, over=over, now=now), 3),
        "error_ratio": _finite(error_ratio(window, matchers, over=over, now=now)),
        "p50_ms": None if p50 is None else round(p50 * 1000, 2),
        "p99_ms": None if p99 is None else round(p99 * 1000, 2),
        "series": {
            "t": [round(t, 3) for t in times],
            "rate": [_finite(request_rate(window, matchers, over=step, now=t), 3) for t in times],
            "errors": [_finite(error_ratio(window, matchers, over=step, now=t)) for t in times],
        },
    }


def red_view(
    window: MetricWindow, *, now: float | None = None, over: float = 60.0, step: float = 10.0, points: int = 30
) -> dict[str, Any]:
    """Rate (req/s), error ratio (5xx share), p50/p99 (ms) and sparkline series per service and per route.

    ``{"at", "window_s", "services": [{"service", "rate", ..., "up", "routes": [{"route", "method"?...}]}]}``;
    sparkline points are ``step`` seconds apart, each the rate over its own step.
    """
    now = time.time() if now is None else now
    routes: dict[str, set[str]] = {}
    for series in window.select(f"{HTTP_DURATION}_count"):
        service = series.labels.get("service", "")
        routes.setdefault(service, set()).add(series.labels.get("http_route", ""))
    services = []
    for service in sorted(routes):
        row = _red_row(window, {"service": service}, over=over, now=now, step=step, points=points)
        up = [s.value_at(now) for s in window.select("up", {"service": service})]
        row.update(
            service=service,
            instances_up=sum(1 for v in up if v == 1.0),
            instances=len(up),
            routes=[
                {
                    "route": route,
                    **_red_row(
                        window, {"service": service, "http_route": route}, over=over, now=now, step=step, points=points
                    ),
                }
                for route in sorted(routes[service])
            ],
        )
        services.append(row)
    return {"at": now, "window_s": over, "step_s": step, "services": services}


def _window_label(seconds: float, scale: float) -> str:
    real = seconds / scale if scale > 0 else seconds
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if real >= size and abs(real / size - round(real / size)) < 1e-6:
            return f"{round(real / size)}{unit}"
    return f"{real:g}s"


def slo_view(statuses: Sequence[SloStatus], slos: Sequence[SLO], *, scale: float = 1.0) -> list[dict[str, Any]]:
    """Per SLO: objective, good ratio, error budget remaining, burn rates per window, firing rules and a state
    (``ok``, ``ticket``, ``page`` or ``no data``). Window labels are the unscaled ones (``1h`` even when
    ``BATON_SLO_TIME_SCALE`` makes it seconds); ``window_s`` is the real length evaluated."""
    by_name = {s.slo.name: s for s in statuses}
    rows = []
    for slo in slos:
        status = by_name.get(slo.name)
        firing = list(status.firing) if status else []
        severities = {f.rule.severity for f in firing}
        state = "page" if "page" in severities else "ticket" if severities else "ok"
        if status is None or status.good_ratio is None:
            state = state if firing else "no data"
        rows.append(
            {
                "name": slo.name,
                "service": slo.service,
                "route": slo.route,
                "sli": slo.sli,
                "objective": slo.objective,
                "threshold_ms": None if slo.threshold is None else round(slo.threshold * 1000, 3),
                "window_s": slo.window,
                "window": _window_label(slo.window, scale),
                "runbook": slo.runbook,
                "state": state,
                "good_ratio": None if status is None else _finite(status.good_ratio),
                "budget_remaining": None if status is None else _finite(status.budget_remaining),
                "burn_rates": [
                    {"window_s": length, "window": _window_label(length, scale), "burn": _finite(rate, 3)}
                    for length, rate in sorted((status.burn_rates if status else {}).items())
                ],
                "firing": [
                    {
                        "severity": f.rule.severity,
                        "long_window": _window_label(f.rule.long_window, scale),
                        "short_window": _window_label(f.rule.short_window, scale),
                        "factor": f.rule.factor,
                        "long_burn": _finite(f.long_burn, 3),
                        "short_burn": _finite(f.short_burn, 3),
                    }
                    for f in firing
                ],
            }
        )
    return rows


def resilience_view(window: MetricWindow, *, now: float | None = None, over: float = 60.0) -> dict[str, Any]:
    """Breaker state and bulkhead queue depth per caller instance and target, with the calls' outcomes per
    second (``baton_client_*`` metrics scraped from the instances)."""
    now = time.time() if now is None else now
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def row(series_labels: dict[str, str]) -> dict[str, Any]:
        key = (series_labels.get("service", ""), series_labels.get("instance", ""), series_labels.get("target", ""))
        return rows.setdefault(
            key,
            {
                "service": key[0],
                "instance": key[1],
                "target": key[2],
                "breaker": None,
                "queue_depth": None,
                "outcomes": {},
            },
        )

    for series in window.select("baton_client_breaker_state"):
        value = series.value_at(now)
        if value is not None:
            row(series.labels)["breaker"] = BREAKER_STATES.get(int(value), str(int(value)))
    for series in window.select("baton_client_bulkhead_queue_depth"):
        value = series.value_at(now)
        if value is not None:
            row(series.labels)["queue_depth"] = value
    for series in window.select("baton_client_requests_total"):
        outcome = series.labels.get("outcome", "")
        outcomes = row(series.labels)["outcomes"]
        outcomes[outcome] = round(outcomes.get(outcome, 0.0) + series.increase(now - over, now) / over, 3)
    return {
        "at": now,
        "window_s": over,
        "clients": sorted(rows.values(), key=lambda r: (r["service"], r["instance"], r["target"])),
    }


def topology_edges(spans: Iterable[SpanRecord]) -> dict[tuple[str, str], dict[str, int]]:
    """``{(caller, callee): {"calls", "errors"}}`` from the spans of one or more traces: a child span whose
    parent belongs to another service is a call between them."""
    spans = list(spans)
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    edges: dict[tuple[str, str], dict[str, int]] = {}
    for span in spans:
        parent = by_id.get((span.trace_id, span.parent_span_id or ""))
        if parent is None or parent.service == span.service:
            continue
        # The caller's client span and the callee's server span are parent and child: each call is counted once.
        edge = edges.setdefault((parent.service, span.service), {"calls": 0, "errors": 0})
        edge["calls"] += 1
        edge["errors"] += int(span.error)
    return edges


async def topology_view(
    store: SpanStore | None, *, declared: Iterable[tuple[str, str]] = (), lookback: float = 900.0, traces: int = 50
) -> dict[str, Any]:
    """Nodes and edges of the last ``traces`` traces of the last ``lookback`` seconds, plus the manifest's
    declared dependencies (``observed: false`` when no trace shows them yet)."""
    edges: dict[tuple[str, str], dict[str, int]] = {}
    if store is not None:
        since = time.time_ns() - int(lookback * 1e9)
        # Scrapes and probes are single-span traces; look past them (they can outnumber requests when idle).
        recent = await store.search(TraceQuery(since_ns=since, limit=traces * 4))
        for summary in [s for s in recent if s.span_count > 1][:traces]:
            for key, counts in topology_edges(await store.trace(summary.trace_id)).items():
                total = edges.setdefault(key, {"calls": 0, "errors": 0})
                total["calls"] += counts["calls"]
                total["errors"] += counts["errors"]
    result: list[dict[str, Any]] = [
        {"source": s, "target": t, "observed": True, **c} for (s, t), c in sorted(edges.items())
    ]
    for source, target in declared:
        if (source, target) not in edges:
            result.append({"source": source, "target": target, "observed": False, "calls": 0, "errors": 0})
    nodes = sorted({str(e["source"]) for e in result} | {str(e["target"]) for e in result})
    return {"nodes": nodes, "edges": result}
