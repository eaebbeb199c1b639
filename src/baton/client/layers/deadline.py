"""Deadline layer: fix the call's overall time budget before anything else spends it."""

from __future__ import annotations

from baton.client.base import Handler, Request
from baton.client.response import Response
from baton.resilience import deadline


class DeadlineLayer:
    """Narrows the ambient deadline to this call's ``timeout`` (or the policy's total) and refuses a spent one.

    No timer is armed here: the per-try timeout is cut to the remaining budget and every wait (backoff,
    bulkhead queue) is bounded by it, which enforces the deadline at no extra cost per call.
    """

    def __init__(self, next: Handler) -> None:
        self.next = next

    async def handle(self, request: Request) -> Response:
        """Run the rest of the chain inside the call's deadline scope.

        Raises:
            DeadlineExceeded: the budget is already spent.
        """
        total = request.options.timeout
        if total is None and request.target.policy.timeout is not None:
            total = request.target.policy.timeout.total
        token = deadline.narrow(total)
        try:
            deadline.check()
            return await self.next.handle(request)
        finally:
            deadline.restore(token)
