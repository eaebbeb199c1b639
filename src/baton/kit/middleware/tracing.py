"""Tracing middleware: one OpenTelemetry SERVER span per request, child of the caller's ``traceparent``."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

from baton.kit.middleware.access_log import PROBE_PATHS
from baton.kit.middleware.status import StatusRecorder
from baton.kit.routing import route_template
from baton.telemetry.context import extract

__all__ = ["TracingMiddleware"]

_ERROR = Status(StatusCode.ERROR)
# What extracting headers without a trace context yields: a new root, whatever the current context holds.
_NO_PARENT = Context()


class TracingMiddleware:
    """Open a server span named ``"{method} {route}"`` with the HTTP semantic-convention attributes.

    The W3C trace context (``traceparent``/``tracestate``) is extracted from the request, so the span joins
    the caller's trace; the span is current while the app runs, so logs and outgoing calls carry its ids.
    Probes (``/livez``, ``/readyz``, ``/metrics``) are not traced: polled every few seconds, they would flood
    the span store.
    """

    def __init__(
        self, app: ASGIApp, *, tracer_name: str = "baton.kit", untraced_paths: Iterable[str] = PROBE_PATHS
    ) -> None:
        self.app = app
        self.tracer_name = tracer_name
        self.untraced_paths = frozenset(untraced_paths)
        self._provider: trace.TracerProvider | None = None
        self._tracer: trace.Tracer | None = None

    def _current_tracer(self) -> trace.Tracer:
        # Cached per provider, and the provider is re-read on every request (a plain global read), so a
        # provider installed after the app was built is still the one used.
        provider = trace.get_tracer_provider()
        if provider is not self._provider or self._tracer is None:
            self._tracer = provider.get_tracer(self.tracer_name)
            self._provider = provider
        return self._tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http" or scope["path"] in self.untraced_paths:
            await self.app(scope, receive, send)
            return
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope["headers"]
            if key in (b"traceparent", b"tracestate")
        }
        method = scope["method"]
        attributes = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
        }
        status = StatusRecorder(send)

        with self._current_tracer().start_as_current_span(
            method, context=extract(carrier) if carrier else _NO_PARENT, kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                await self.app(scope, receive, status)
            finally:
                # An unsampled span records nothing: skip the attribute work.
                if span.is_recording():
                    route = route_template(scope)
                    if route is not None:
                        span.set_attribute("http.route", route)
                        span.update_name(f"{method} {route}")
                    span.set_attribute("http.response.status_code", status.code)
                # Semantic conventions: only 5xx marks a server span as an error; 4xx is the client's.
                if status.code >= 500:
                    span.set_status(_ERROR)
