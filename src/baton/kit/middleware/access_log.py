"""Access log middleware: one JSON line per request (we log ourselves; uvicorn's access log is off)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from baton.kit.middleware.status import StatusRecorder
from baton.kit.routing import route_template
from baton.telemetry.logging import request_logger

__all__ = ["PROBE_PATHS", "AccessLogMiddleware"]

#: Paths machines poll every few seconds (liveness, readiness, scrapes): not logged, traced or measured —
#: they would flood the logs and the span store and cost CPU on every poll.
PROBE_PATHS = frozenset({"/livez", "/readyz", "/metrics"})


class AccessLogMiddleware:
    """Log ``request`` with method, path, route, status, duration and client; probes are not logged."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        logger_name: str = "baton.access",
        quiet_paths: Iterable[str] = PROBE_PATHS,
    ) -> None:
        self.app = app
        # The access log's own writer, the one the kit's telemetry layer uses: the same line, the same cost.
        self.log = request_logger(logger_name)
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http" or scope["path"] in self.quiet_paths:
            await self.app(scope, receive, send)
            return
        status = StatusRecorder(send)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, status)
        finally:
            client = scope.get("client")
            self.log.request(
                scope["method"],
                scope["path"],
                route_template(scope),
                status.code,
                time.perf_counter() - started,
                client[0] if client else None,
            )
