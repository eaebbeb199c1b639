"""Correlation id middleware: accept the caller's ``X-Correlation-ID`` or create one, bind it, echo it."""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baton.telemetry.context import CORRELATION_HEADER, bind_correlation_id

__all__ = ["CorrelationIdMiddleware"]

# Ids travel into logs, events and other services' headers: accept only short, printable, unambiguous ids
# and replace anything else (rather than reject the request: the id is ours to assign when it is unusable).
_VALID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class CorrelationIdMiddleware:
    """Bind the request's correlation id (header value or a fresh one) and echo it on the response.

    Everything downstream — logs, outgoing calls (:func:`baton.telemetry.context.inject`), emitted events —
    reads it from the context variable, so one id follows the request across hops.
    """

    def __init__(self, app: ASGIApp, *, header: str = CORRELATION_HEADER) -> None:
        self.app = app
        self.header = header
        self._header_key = header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for key, value in scope["headers"]:
            if key == self._header_key:
                candidate = value.decode("latin-1").strip()
                incoming = candidate if _VALID.fullmatch(candidate) else None
                break

        with bind_correlation_id(incoming) as correlation_id:

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = MutableHeaders(scope=message)
                    headers[self.header] = correlation_id
                await send(message)

            await self.app(scope, receive, send_with_id)
