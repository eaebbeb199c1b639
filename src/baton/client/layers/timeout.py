"""Per-try timeout layer: how long this try may take, cut to what the overall deadline leaves."""

from __future__ import annotations

from baton.client.base import Handler, Request
from baton.client.response import Response
from baton.errors import CallTimeout, DeadlineExceeded
from baton.resilience import deadline

_SLACK = 0.005
"""Seconds of timer imprecision tolerated when deciding that the deadline (not the try) expired."""


class TimeoutLayer:
    """Sets ``request.try_timeout``; the transport arms it (one timer per try, as aiohttp does anyway)."""

    def __init__(self, next: Handler) -> None:
        self.next = next

    async def handle(self, request: Request) -> Response:
        """Bound the try.

        Raises:
            DeadlineExceeded: the overall deadline is spent, or it (not the per-try timeout) expired.
            CallTimeout: the per-try timeout expired (retryable).
        """
        per_try = request.options.per_try_timeout
        if per_try is None and request.target.policy.timeout is not None:
            per_try = request.target.policy.timeout.per_try
        left = deadline.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"deadline spent before try {request.attempt}", target=request.target.key)
        bound_by_deadline = left is not None and (per_try is None or left < per_try)
        request.try_timeout = left if bound_by_deadline else per_try
        try:
            return await self.next.handle(request)
        except CallTimeout as exc:
            after = deadline.remaining()
            # Only a spent budget is a deadline expiry; an earlier per-try timeout stays retryable.
            if bound_by_deadline and after is not None and after <= _SLACK:
                raise DeadlineExceeded(
                    f"deadline expired during try {request.attempt} of {request.target.key!r}",
                    target=request.target.key,
                ) from exc
            raise
