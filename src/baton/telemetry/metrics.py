"""RED metrics of an HTTP server, named after the OpenTelemetry HTTP semantic conventions.

``http.server.request.duration`` (seconds) becomes the Prometheus histogram
``http_server_request_duration_seconds{service, http_route, http_request_method, http_response_status_code}``
and ``http.server.active_requests`` the gauge ``http_server_active_requests{service, http_request_method}``.
Rate and errors are read off the histogram's ``_count``; duration off its buckets.

Each :class:`HttpServerMetrics` owns its own registry, so two services in one process (tests) never collide.

Every request observes both, so they are kept as plain numbers — one bucket array per label tuple (route template,
method, status), one counter per method — and rendered by a registered collector when scraped: a
``prometheus_client`` ``Histogram`` child takes a lock per bucket and per sum on each observation and its
``labels()`` validates and locks on every call, several times the cost (``bench/telemetry.py``). Only the event
loop's thread writes them (the kit's middleware); a scrape reads a consistent enough copy.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["DURATION_BUCKETS", "UNMATCHED_ROUTE", "ActiveRequests", "HttpServerMetrics"]

#: Bucket boundaries advised by the OTel semantic conventions for ``http.server.request.duration`` (s).
DURATION_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)

#: ``http_route`` label of requests that matched no route (raw paths would explode the label's cardinality).
UNMATCHED_ROUTE = "unmatched"

_DURATION = "http_server_request_duration_seconds"
_DURATION_HELP = "Duration of HTTP server requests (OTel http.server.request.duration)."
_DURATION_LABELS = ["service", "http_route", "http_request_method", "http_response_status_code"]
_ACTIVE = "http_server_active_requests"
_ACTIVE_HELP = "Number of HTTP server requests in flight (OTel http.server.active_requests)."
_ACTIVE_LABELS = ["service", "http_request_method"]
_LE = [repr(bound) for bound in DURATION_BUCKETS] + ["+Inf"]  # as prometheus_client writes them: "0.005", "1.0"


class _Durations:
    """The histogram of one label tuple: per-bucket (not cumulative) counts, the last one for ``+Inf``, and the sum."""

    __slots__ = ("buckets", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1  # the first bound >= seconds: ``le``
        self.sum += seconds


class ActiveRequests:
    """Requests of one method in flight (``value``), counted with ``inc()``/``dec()``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1

    def dec(self) -> None:
        self.value -= 1


class HttpServerMetrics:
    """The RED instruments of one service, in a registry of their own."""

    def __init__(self, *, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        # Bounded by the label sets the server can produce: routes x methods x statuses (routes are templates).
        self._durations: dict[tuple[str | None, str, int], _Durations] = {}
        self._active: dict[str, ActiveRequests] = {}
        self.registry.register(_RedCollector(self))

    def observe(self, *, route: str | None, method: str, status: int, seconds: float) -> None:
        """Record one finished request; ``route`` is the route template (``None`` when nothing matched)."""
        key = (route, method, status)
        durations = self._durations.get(key)
        if durations is None:
            durations = self._durations[key] = _Durations()
        durations.observe(seconds)

    def active_child(self, method: str) -> ActiveRequests:
        """The ``http_server_active_requests`` counter of ``method`` (``inc()``/``dec()``)."""
        active = self._active.get(method)
        if active is None:
            active = self._active[method] = ActiveRequests()
        return active

    def request_started(self, method: str) -> None:
        """Count a request in flight."""
        self.active_child(method).inc()

    def request_finished(self, method: str) -> None:
        """Stop counting a request in flight."""
        self.active_child(method).dec()

    def render(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _RedCollector(Collector):
    """Renders an :class:`HttpServerMetrics`' numbers as the two metric families when the registry is scraped."""

    def __init__(self, metrics: HttpServerMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        """The families' names (the registry refuses a second collector claiming them)."""
        return [
            HistogramMetricFamily(_DURATION, _DURATION_HELP, labels=_DURATION_LABELS),
            GaugeMetricFamily(_ACTIVE, _ACTIVE_HELP, labels=_ACTIVE_LABELS),
        ]

    def collect(self) -> Iterator[Metric]:
        """Cumulative buckets per label tuple, and the requests in flight per method."""
        metrics = self._metrics
        service = metrics.service
        durations = HistogramMetricFamily(_DURATION, _DURATION_HELP, labels=_DURATION_LABELS)
        for (route, method, status), child in list(metrics._durations.items()):
            cumulative = list(accumulate(child.buckets))
            durations.add_metric(
                [service, route or UNMATCHED_ROUTE, method, str(status)],
                list(zip(_LE, cumulative, strict=True)),
                child.sum,
            )
        yield durations
        active = GaugeMetricFamily(_ACTIVE, _ACTIVE_HELP, labels=_ACTIVE_LABELS)
        for method, counter in list(metrics._active.items()):
            active.add_metric([service, method], counter.value)
        yield active
