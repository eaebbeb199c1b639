"""The request deadline: one time budget shared by every hop of a request.

The current absolute deadline (on the monotonic clock) lives in a ContextVar. The client sends what is left
in ``X-Request-Deadline`` (remaining milliseconds, an integer) and :class:`DeadlineMiddleware` on the
receiving service turns it back into a deadline, so nested calls spend one budget instead of each hop starting
a fresh timeout. Remaining time travels rather than an absolute timestamp because hosts' clocks differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import Any

import orjson

from baton.errors import DeadlineExceeded

DEADLINE_HEADER = "X-Request-Deadline"
_HEADER_KEY = DEADLINE_HEADER.lower().encode("latin-1")

_deadline: ContextVar[float | None] = ContextVar("baton_deadline", default=None)


def current() -> float | None:
    """The absolute deadline of the work in progress (``time.monotonic()`` scale), or ``None``."""
    return _deadline.get()


def remaining() -> float | None:
    """Seconds left before the current deadline (may be <= 0), or ``None`` when there is no deadline."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def check() -> None:
    """Raise when the current deadline is spent.

    Raises:
        DeadlineExceeded: no time is left.
    """
    left = remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded(f"request deadline passed {-left * 1000:.0f} ms ago")


def narrow(seconds: float | None) -> Token[float | None] | None:
    """Set the deadline to ``seconds`` from now unless the current one is sooner; return a token for :func:`restore`.

    The allocation-free twin of :func:`deadline_scope` for hot paths (the client's deadline layer).
    ``None`` changes nothing and returns ``None``.
    """
    if seconds is None:
        return None
    proposed = time.monotonic() + seconds
    outer = _deadline.get()
    return _deadline.set(proposed if outer is None or proposed < outer else outer)


def enter(seconds: float | None, now: float) -> Token[float | None] | None:
    """:func:`narrow`, then :func:`check`, in one step on the caller's clock reading ``now`` (``time.monotonic()``).

    The client's per-call entry: it reads the clock once per try and shares the reading. Returns the token for
    :func:`restore` (the deadline is already restored when this raises).

    Raises:
        DeadlineExceeded: no time is left.
    """
    outer = _deadline.get()
    if seconds is None:
        token = None
        current = outer
    else:
        proposed = now + seconds
        current = proposed if outer is None or proposed < outer else outer
        token = _deadline.set(current)
    if current is not None and current <= now:
        restore(token)
        raise DeadlineExceeded(f"request deadline passed {(now - current) * 1000:.0f} ms ago")
    return token


def restore(token: Token[float | None] | None) -> None:
    """Undo :func:`narrow`."""
    if token is not None:
        _deadline.reset(token)


@contextlib.contextmanager
def deadline_scope(seconds: float | None) -> Iterator[float | None]:
    """Run the block with a deadline ``seconds`` from now, or the enclosing one when that is sooner.

    A deadline can only shrink inside a scope: a callee never gets more time than its caller has.
    ``None`` keeps the enclosing deadline unchanged. Yields the absolute deadline in force.
    """
    token = narrow(seconds)
    try:
        yield _deadline.get()
    finally:
        restore(token)


def header_value(seconds_left: float) -> str:
    """Encode remaining seconds as ``X-Request-Deadline`` (whole milliseconds, never negative)."""
    return str(max(0, int(seconds_left * 1000)))


def parse_header(value: str | bytes | None) -> float | None:
    """Decode ``X-Request-Deadline`` into remaining seconds; ``None`` when absent or malformed."""
    if value is None:
        return None
    try:
        millis = float(value)
    except ValueError:
        return None
    if millis != millis:  # NaN never compares, so it would silently disable the deadline.
        return None
    return max(0.0, millis / 1000.0)


class DeadlineMiddleware:
    """ASGI middleware enforcing the caller's ``X-Request-Deadline`` on this service.

    A request whose budget is already spent is answered ``504`` at once; otherwise the handler runs under
    that deadline (visible to nested client calls through :func:`remaining`) and is cancelled when it
    outlives it, answering ``504`` problem+json if no response has started yet.
    """

    def __init__(self, app: Any, *, grace: float = 0.02) -> None:
        """Args: app: the ASGI app; grace: seconds past the deadline before the handler is cancelled, so its
        own deadline-aware calls fail first (with ``DeadlineExceeded``) and it can answer for itself."""
        self.app = app
        self.grace = grace

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seconds = None
        for key, value in scope.get("headers", ()):
            if key == _HEADER_KEY:
                seconds = parse_header(value)
                break
        if seconds is None:
            await self.app(scope, receive, send)
            return
        if seconds <= 0:
            await _send_504(send, "the caller's deadline was already spent when the request arrived")
            return
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with deadline_scope(seconds):
            try:
                async with asyncio.timeout(seconds + self.grace) as scope_timeout:
                    await self.app(scope, receive, tracking_send)
            except TimeoutError:
                if not scope_timeout.expired():
                    raise
                if not started:
                    await _send_504(send, f"the handler outlived the caller's {seconds * 1000:.0f} ms deadline")


async def _send_504(send: Any, detail: str) -> None:
    body = orjson.dumps({"type": "about:blank", "title": DeadlineExceeded.title, "status": 504, "detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": 504,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
