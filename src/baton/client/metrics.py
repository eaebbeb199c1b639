"""Client metrics: one set of Prometheus collectors per ``CollectorRegistry``.

* ``baton_client_requests_total{target,outcome}`` — logical calls, as the caller saw them (effective).
* ``baton_client_attempts_total{target,outcome,kind}`` — tries on the wire; ``kind`` is ``first`` or
  ``retry``, so retries are counted apart (actual load = sum over kinds).
* ``baton_client_breaker_state{target}`` — 0 closed, 1 open, 2 half-open, 3 disabled, 4 forced open,
  5 forced closed, 6 metrics only.
* ``baton_client_bulkhead_queue_depth{target}`` — calls waiting for a bulkhead slot.
* ``baton_client_ejections_total{target,instance}`` — outlier ejections.

The two gauges are read at scrape time from the live :class:`~baton.resilience.Resilience` registries, so
the hot path pays nothing for them; counter children are cached per label set for the same reason.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from baton.resilience.registry import Resilience

_BY_REGISTRY: dict[int, ClientMetrics] = {}


class _ResilienceCollector:
    """Yields the breaker-state and bulkhead-depth gauges of every live Resilience registry."""

    def __init__(self) -> None:
        self.sources: weakref.WeakSet[Resilience] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "baton_client_breaker_state",
            "Circuit breaker state per target (0 closed, 1 open, 2 half-open, ...)",
            labels=["target"],
        )
        depth = GaugeMetricFamily(
            "baton_client_bulkhead_queue_depth", "Calls waiting for a bulkhead slot per target", labels=["target"]
        )
        for source in list(self.sources):
            for target in source.states():
                if target.breaker is not None:
                    state.add_metric([target.key], float(target.breaker.state))
                if target.bulkhead is not None:
                    depth.add_metric([target.key], float(target.bulkhead.queue_depth))
        yield state
        yield depth

    def describe(self) -> Iterator[Metric]:
        return iter(())


class ClientMetrics:
    """The client collectors registered on one ``CollectorRegistry``; get it with :meth:`on`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "baton_client_requests", "Logical client calls by outcome", ["target", "outcome"], registry=registry
        )
        self.attempts = Counter(
            "baton_client_attempts",
            "Tries on the wire by outcome; kind=retry counts retries apart",
            ["target", "outcome", "kind"],
            registry=registry,
        )
        self.ejections = Counter(
            "baton_client_ejections", "Outlier ejections per instance", ["target", "instance"], registry=registry
        )
        self._gauges = _ResilienceCollector()
        registry.register(self._gauges)  # type: ignore[arg-type]
        self._children: dict[tuple[str, ...], Any] = {}

    @classmethod
    def on(cls, registry: CollectorRegistry | None = None) -> ClientMetrics:
        """The metrics of ``registry`` (the global default when ``None``), created on first use."""
        registry = registry or REGISTRY
        metrics = _BY_REGISTRY.get(id(registry))
        if metrics is None:
            metrics = _BY_REGISTRY[id(registry)] = cls(registry)
        return metrics

    def watch(self, resilience: Resilience) -> None:
        """Export the gauges of ``resilience`` while it lives."""
        self._gauges.sources.add(resilience)

    def request(self, target: str, outcome: str) -> None:
        """Count one logical call."""
        key = ("r", target, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(target, outcome)
        child.inc()

    def attempt(self, target: str, outcome: str, retry: bool) -> None:
        """Count one try on the wire."""
        key = ("a", target, outcome, "retry" if retry else "first")
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.attempts.labels(target, outcome, key[3])
        child.inc()

    def ejection(self, target: str, instance: str) -> None:
        """Count one outlier ejection."""
        self.ejections.labels(target, instance).inc()


def outcome_of(status: int | None = None, error: BaseException | None = None) -> str:
    """A short outcome label: ``success``, ``rejected`` (4xx), ``error`` (5xx) or the error kind."""
    if error is not None:
        return _ERROR_OUTCOMES.get(type(error).__name__, "failed")
    if status is None or status < 400:
        return "success"
    return "rejected" if status < 500 else "error"


_ERROR_OUTCOMES = {
    "CallTimeout": "timeout",
    "DeadlineExceeded": "deadline",
    "CircuitOpen": "circuit_open",
    "BulkheadFull": "bulkhead_full",
    "RetryBudgetExhausted": "budget_exhausted",
    "NoInstances": "no_instances",
    "UpstreamUnavailable": "unavailable",
    "UpstreamRejected": "rejected",
    "CancelledError": "cancelled",
}
