"""RED metrics per route and consumer, kept in plain counters and exposed as Prometheus text.

``prometheus_client``'s labelled histograms cost several microseconds per observation (locks, label
lookups); the gateway's whole budget is ~40 µs. So observations go into plain dicts here (one tuple lookup
and two additions) and a custom collector turns them into ``http_server_request_duration_seconds`` (by
service, route, method, status) and ``baton_gateway_consumer_requests_total`` at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Histogram upper bounds in seconds (OTel's HTTP server buckets, plus 0.5 ms for a fast edge)."""
_INF = len(BUCKETS)
_CLASSES = tuple(f"{c}xx" for c in range(10))


class RedMetrics:
    """Rate, errors and duration of every request the gateway answered."""

    def __init__(self, *, service: str = "gateway") -> None:
        self.service = service
        self._series: dict[tuple[str, str, int], list[float]] = {}
        self._consumers: dict[tuple[str, str, str], int] = {}
        self._upstream_errors: dict[tuple[str, str], int] = {}
        self.gauges: dict[str, Callable[[], float]] = {}
        """Extra gauges read at scrape time (open connections, pooled upstream connections…)."""
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # type: ignore[arg-type]

    def observe(self, route: str, method: str, status: int, seconds: float, consumer: str | None) -> None:
        """Record one answered request."""
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = [0.0] * (_INF + 2)
        series[bisect_left(BUCKETS, seconds)] += 1
        series[-1] += seconds
        ckey = (consumer or "anonymous", route, _CLASSES[status // 100 % 10])
        consumers = self._consumers
        consumers[ckey] = consumers.get(ckey, 0) + 1

    def observe_exchanges(self, finished: Iterable[tuple[Any, float]]) -> None:
        """Record a batch of answered requests: ``(exchange, seconds)`` pairs (as :meth:`observe` each)."""
        all_series, consumers, classes = self._series, self._consumers, _CLASSES
        for exchange, seconds in finished:
            route = exchange.route_name or "-"
            status = exchange.status
            key = (route, exchange.method, status)
            series = all_series.get(key)
            if series is None:
                series = all_series[key] = [0.0] * (_INF + 2)
            series[bisect_left(BUCKETS, seconds)] += 1
            series[-1] += seconds
            principal = exchange.principal
            ckey = ((principal is not None and principal.consumer) or "anonymous", route, classes[status // 100 % 10])
            consumers[ckey] = consumers.get(ckey, 0) + 1

    def upstream_error(self, route: str, kind: str) -> None:
        """Count an upstream failure (``connect``, ``timeout``, ``reset``, ``protocol``)."""
        key = (route, kind)
        self._upstream_errors[key] = self._upstream_errors.get(key, 0) + 1

    def requests(self, route: str | None = None) -> int:
        """Requests recorded (for one route, or all)."""
        return int(sum(sum(s[:-1]) for (r, _, _), s in self._series.items() if route is None or r == route))

    def collect(self) -> Iterator[Metric]:
        """Prometheus collector hook."""
        histogram = HistogramMetricFamily(
            "http_server_request_duration_seconds",
            "Duration of HTTP requests answered by the gateway.",
            labels=["service", "route", "method", "status"],
        )
        for (route, method, status), series in list(self._series.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip((*BUCKETS, float("inf")), series[:-1], strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            histogram.add_metric([self.service, route, method, str(status)], buckets, series[-1])
        yield histogram
        consumers = CounterMetricFamily(
            "baton_gateway_consumer_requests",
            "Requests per consumer, route and status class.",
            labels=["consumer", "route", "status_class"],
        )
        for (consumer, route, klass), count in list(self._consumers.items()):
            consumers.add_metric([consumer, route, klass], count)
        yield consumers
        errors = CounterMetricFamily(
            "baton_gateway_upstream_errors", "Upstream failures by route and kind.", labels=["route", "kind"]
        )
        for (route, kind), count in list(self._upstream_errors.items()):
            errors.add_metric([route, kind], count)
        yield errors
        for name, read in self.gauges.items():
            gauge = GaugeMetricFamily(f"baton_gateway_{name}", f"Gateway {name.replace('_', ' ')}.")
            gauge.add_metric([], read())
            yield gauge

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
