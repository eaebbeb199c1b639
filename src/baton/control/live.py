"""Live updates for the dashboard: an in-process publish/subscribe hub and its Server-Sent Events encoding.

The observation loop publishes a ``tick`` after every round and an ``incident`` on every incident change;
each ``GET /v1/events`` subscriber gets its own bounded queue. A subscriber too slow to keep up loses the
oldest events (it only needs the latest state: every event makes the page re-read it), never blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

__all__ = ["EventHub", "sse_stream"]

_CLOSED: tuple[str, dict[str, Any]] = ("", {})


class EventHub:
    """Fan-out of ``(event, data)`` pairs to every current subscriber."""

    def __init__(self, *, queue_size: int = 64) -> None:
        self.queue_size = queue_size
        self._subscribers: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()
        self.closed = False

    @property
    def subscribers(self) -> int:
        """Number of live subscriptions."""
        return len(self._subscribers)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Queue ``(event, data)`` for every subscriber, dropping a slow one's oldest event."""
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait((event, data))

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[tuple[str, dict[str, Any]]]]:
        """A queue receiving every event published while the block runs (``("", {})`` once closed)."""
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(self.queue_size)
        if self.closed:
            queue.put_nowait(_CLOSED)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        """End every subscription (the server is stopping: open event streams must finish)."""
        self.closed = True
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueEmpty):
                while queue.full():
                    queue.get_nowait()
            queue.put_nowait(_CLOSED)


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def sse_stream(
    hub: EventHub, *, disconnected: Callable[[], Awaitable[bool]], heartbeat: float = 15.0
) -> AsyncIterator[bytes]:
    """``text/event-stream`` frames of ``hub``'s events until the hub closes or the client goes away.

    A comment line every ``heartbeat`` seconds keeps proxies from closing an idle stream and lets the server
    notice a client that left.
    """
    async with hub.subscribe() as queue:
        yield b"retry: 2000\n\n"
        yield _frame("hello", {"subscribers": hub.subscribers})
        while True:
            try:
                event, data = await asyncio.wait_for(queue.get(), timeout=heartbeat)
            except TimeoutError:
                if await disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            if not event:
                return
            yield _frame(event, data)
