"""Tracing middleware: one OpenTelemetry SERVER span per request, child of the caller's ``traceparent``."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

from baton.kit.middleware.status import StatusRecorder
from baton.kit.routing import route_template
from baton.telemetry.context import extract

__all__ = ["TracingMiddleware"]


class TracingMiddleware:
    """Open a server span named ``"{method} {route}"`` with the HTTP semantic-convention attributes.

    The W3C trace context (``traceparent``/``tracestate``) is extracted from the request, so the span joins
    the caller's trace; the span is current while the app runs, so logs and outgoing calls carry its ids.
    """

    def __init__(self, app: ASGIApp, *, tracer_name: str = "baton.kit") -> None:
        self.app = app
        self.tracer_name = tracer_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
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
        # Resolved per request (not in __init__) so a provider configured after app creation is used.
        tracer = trace.get_tracer(self.tracer_name)
        status = StatusRecorder(send)

        with tracer.start_as_current_span(
            method, context=extract(carrier), kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                await self.app(scope, receive, status)
            finally:
                route = route_template(scope)
                if route is not None:
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
                span.set_attribute("http.response.status_code", status.code)
                # Semantic conventions: only 5xx marks a server span as an error; 4xx is the client's.
                if status.code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
