"""RED metrics of an HTTP server, named after the OpenTelemetry HTTP semantic conventions.

``http.server.request.duration`` (seconds) becomes the Prometheus histogram
``http_server_request_duration_seconds{service, http_route, http_request_method, http_response_status_code}``
and ``http.server.active_requests`` the gauge ``http_server_active_requests{service, http_request_method}``.
Rate and errors are read off the histogram's ``_count``; duration off its buckets.

Each :class:`HttpServerMetrics` owns its own registry, so two services in one process (tests) never collide.
The labelled children are cached per label tuple: ``Histogram.labels()`` validates and locks on every call,
which the per-request path cannot afford.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest

__all__ = ["DURATION_BUCKETS", "UNMATCHED_ROUTE", "HttpServerMetrics"]

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


class HttpServerMetrics:
    """The RED instruments of one service, in a registry of their own."""

    def __init__(self, *, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests (OTel http.server.request.duration).",
            ["service", "http_route", "http_request_method", "http_response_status_code"],
            registry=self.registry,
            buckets=DURATION_BUCKETS,
        )
        self.active_requests = Gauge(
            "http_server_active_requests",
            "Number of HTTP server requests in flight (OTel http.server.active_requests).",
            ["service", "http_request_method"],
            registry=self.registry,
        )
        # Bounded by the label sets the server can produce: routes x methods x statuses (routes are templates).
        self._durations: dict[tuple[str | None, str, int], Any] = {}
        self._active: dict[str, Any] = {}

    def observe(self, *, route: str | None, method: str, status: int, seconds: float) -> None:
        """Record one finished request; ``route`` is the route template (``None`` when nothing matched)."""
        key = (route, method, status)
        child = self._durations.get(key)
        if child is None:
            child = self.request_duration.labels(self.service, route or UNMATCHED_ROUTE, method, str(status))
            self._durations[key] = child
        child.observe(seconds)

    def active_child(self, method: str) -> Any:
        """The ``http_server_active_requests`` child of ``method`` (``inc()``/``dec()``), cached."""
        child = self._active.get(method)
        if child is None:
            child = self._active[method] = self.active_requests.labels(self.service, method)
        return child

    def request_started(self, method: str) -> None:
        """Count a request in flight."""
        self.active_child(method).inc()

    def request_finished(self, method: str) -> None:
        """Stop counting a request in flight."""
        self.active_child(method).dec()

    def render(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
