"""Breaker layer: refuse calls to a target whose circuit is open; record every try's outcome."""

from __future__ import annotations

import time

from baton.client.base import Handler, Request
from baton.client.response import Response
from baton.errors import CallTimeout, NoInstances, UpstreamUnavailable

_FAILURES = (UpstreamUnavailable, CallTimeout, NoInstances)


class BreakerLayer:
    """Asks the target's breaker for permission and reports the outcome.

    5xx answers, connect errors and timeouts are failures; 4xx are successes (the service is healthy, the
    request was wrong); anything else (deadline spent, bulkhead full, cancellation) does not count at all.
    """

    def __init__(self, next: Handler) -> None:
        self.next = next

    async def handle(self, request: Request) -> Response:
        """Call through the breaker.

        Raises:
            CircuitOpen: the breaker refused the call (it is never sent, and never retried).
        """
        breaker = request.target.breaker
        if breaker is None:
            return await self.next.handle(request)
        breaker.acquire()
        started = time.monotonic()
        try:
            response = await self.next.handle(request)
        except _FAILURES:
            breaker.on_error(time.monotonic() - started)
            raise
        except BaseException:
            breaker.release()
            raise
        if response.status >= 500:
            breaker.on_error(time.monotonic() - started)
        else:
            breaker.on_success(time.monotonic() - started)
        return response
