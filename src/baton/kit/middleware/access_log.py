"""Access log middleware: one JSON line per request (we log ourselves; uvicorn's access log is off)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from baton.kit.middleware.status import StatusRecorder
from baton.kit.routing import route_template
from baton.telemetry.logging import get_logger

__all__ = ["AccessLogMiddleware"]


class AccessLogMiddleware:
    """Log ``request`` with method, path, route, status and duration; probes are logged at DEBUG only."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        logger_name: str = "baton.access",
        quiet_paths: Iterable[str] = ("/livez", "/readyz", "/metrics"),
    ) -> None:
        self.app = app
        self.log = get_logger(logger_name)
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = StatusRecorder(send)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, status)
        finally:
            path = scope["path"]
            level = logging.DEBUG if path in self.quiet_paths else logging.INFO
            client = scope.get("client")
            self.log.log(
                level,
                "request",
                method=scope["method"],
                path=path,
                route=route_template(scope),
                status=status.code,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                client=client[0] if client else None,
            )
