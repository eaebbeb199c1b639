"""Bulkhead layer: bound the calls in flight to one target."""

from __future__ import annotations

from baton.client.base import Handler, Request
from baton.client.response import Response
from baton.resilience import deadline


class BulkheadLayer:
    """Holds one of the target's bulkhead slots for the duration of a try."""

    def __init__(self, next: Handler) -> None:
        self.next = next

    async def handle(self, request: Request) -> Response:
        """Call within a slot.

        Raises:
            BulkheadFull: no slot and no room in the queue, or none freed before the wait limit.
        """
        bulkhead = request.target.bulkhead
        if bulkhead is None:
            return await self.next.handle(request)
        await bulkhead.acquire(max_wait=deadline.remaining())
        try:
            return await self.next.handle(request)
        finally:
            bulkhead.release()
