"""RED metrics middleware: rate, errors and duration of every request, by route template."""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from baton.kit.middleware.status import StatusRecorder
from baton.kit.routing import route_template
from baton.telemetry.metrics import HttpServerMetrics

__all__ = ["DEFAULT_UNMEASURED", "RedMetricsMiddleware"]

#: Paths probed by machines every few seconds; measuring them would drown the service's own traffic.
DEFAULT_UNMEASURED = frozenset({"/metrics", "/livez", "/readyz"})


class RedMetricsMiddleware:
    """Observe ``http_server_request_duration_seconds`` and ``http_server_active_requests``."""

    def __init__(
        self, app: ASGIApp, *, metrics: HttpServerMetrics, unmeasured: Iterable[str] = DEFAULT_UNMEASURED
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.unmeasured = frozenset(unmeasured)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http" or scope["path"] in self.unmeasured:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status = StatusRecorder(send)
        started = time.perf_counter()
        self.metrics.request_started(method)
        try:
            await self.app(scope, receive, status)
        finally:
            self.metrics.request_finished(method)
            self.metrics.observe(
                route=route_template(scope),
                method=method,
                status=status.code,
                seconds=time.perf_counter() - started,
            )
