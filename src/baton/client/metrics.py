"""Client metrics: one set of Prometheus collectors per ``CollectorRegistry``.

* ``baton_client_requests_total{target,outcome}`` — logical calls, as the caller saw them (effective).
* ``baton_client_attempts_total{target,outcome,kind}`` — tries on the wire; ``kind`` is ``first`` or
  ``retry``, so retries are counted apart (actual load = sum over kinds).
* ``baton_client_breaker_state{target}`` — 0 closed, 1 open, 2 half-open, 3 disabled, 4 forced open,
  5 forced closed, 6 metrics only.
* ``baton_client_bulkhead_queue_depth{target}`` — calls waiting for a bulkhead slot.
* ``baton_client_ejections_total{target,instance}`` — outlier ejections.

Everything is read at scrape time: counters are plain dict increments on the hot path (Prometheus client
counters take a lock per ``inc``), the gauges come from the live :class:`~baton.resilience.Resilience`
registries.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from baton.resilience.registry import Resilience

_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, ClientMetrics] = weakref.WeakKeyDictionary()


class _Collector:
    """Exports the client counters and the gauges of every live Resilience registry at scrape time."""

    def __init__(self, metrics: ClientMetrics) -> None:
        self._metrics = metrics
        self.sources: weakref.WeakSet[Resilience] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        counts = self._metrics.counts
        requests = CounterMetricFamily(
            "baton_client_requests", "Logical client calls by outcome", labels=["target", "outcome"]
        )
        attempts = CounterMetricFamily(
            "baton_client_attempts",
            "Tries on the wire by outcome; kind=retry counts retries apart",
            labels=["target", "outcome", "kind"],
        )
        ejections = CounterMetricFamily(
            "baton_client_ejections", "Outlier ejections per instance", labels=["target", "instance"]
        )
        families = {"r": requests, "a": attempts, "e": ejections}
        for key, value in list(counts.items()):
            families[key[0]].add_metric(list(key[1:]), float(value))
        state = GaugeMetricFamily(
            "baton_client_breaker_state",
            "Circuit breaker state per target (0 closed, 1 open, 2 half-open, 3 disabled, 4 forced open, "
            "5 forced closed, 6 metrics only)",
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
        yield from (requests, attempts, ejections, state, depth)

    def describe(self) -> Iterator[Metric]:
        return iter(())


class ClientMetrics:
    """The client metrics of one ``CollectorRegistry``; get it with :meth:`on`.

    Counting is a dict increment (the event loop is single-threaded); Prometheus reads the totals at scrape.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counts: dict[tuple[str, ...], int] = {}
        """Totals keyed by ``(kind, *labels)``; kind is ``r`` (requests), ``a`` (attempts), ``e`` (ejections)."""
        self._collector = _Collector(self)
        registry.register(self._collector)  # type: ignore[arg-type]

    @classmethod
    def on(cls, registry: CollectorRegistry | None = None) -> ClientMetrics:
        """The metrics of ``registry`` (the global default when ``None``), created on first use."""
        registry = registry or REGISTRY
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = _BY_REGISTRY[registry] = cls(registry)
        return metrics

    def watch(self, resilience: Resilience) -> None:
        """Export the gauges of ``resilience`` while it lives."""
        self._collector.sources.add(resilience)

    def request(self, target: str, outcome: str) -> None:
        """Count one logical call."""
        key = ("r", target, outcome)
        self.counts[key] = self.counts.get(key, 0) + 1

    def attempt(self, target: str, outcome: str, retry: bool) -> None:
        """Count one try on the wire."""
        key = ("a", target, outcome, "retry" if retry else "first")
        self.counts[key] = self.counts.get(key, 0) + 1

    def ejection(self, target: str, instance: str) -> None:
        """Count one outlier ejection."""
        key = ("e", target, instance)
        self.counts[key] = self.counts.get(key, 0) + 1


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
