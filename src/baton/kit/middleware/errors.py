"""Last-resort error middleware: an unhandled exception becomes a 500 problem, never a traceback."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

from baton.kit.middleware.status import StatusRecorder
from baton.kit.problems import problem_response
from baton.telemetry.logging import get_logger

__all__ = ["ProblemMiddleware"]


class ProblemMiddleware:
    """Catch what the app's exception handlers did not, log it with its traceback, answer problem+json 500.

    It sits innermost in the kit's chain (inside metrics, tracing and the access log) so those still see the
    500 it answers, and the log line carries the request's correlation id and trace id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = get_logger("baton.errors")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = StatusRecorder(send)
        try:
            await self.app(scope, receive, status)
        except Exception as exc:
            self.log.exception("unhandled error", method=scope["method"], path=scope["path"])
            span = trace.get_current_span()
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            if status.started:
                # Half a response is on the wire: the only honest thing left is to abort the connection.
                raise
            response = problem_response(
                500,
                title="Internal Server Error",
                detail="An unexpected error occurred; quote the correlation id when reporting it.",
                instance=scope["path"],
            )
            await response(scope, receive, send)
