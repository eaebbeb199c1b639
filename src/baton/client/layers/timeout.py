"""Per-try timeout: what a try's timeout means when the overall deadline cut it short.

The chain sets ``request.try_timeout`` (the smaller of the per-try timeout and what the deadline leaves);
the transport arms it — one timer per try, as aiohttp does anyway.
"""

from __future__ import annotations

from baton.client.base import Request
from baton.errors import DeadlineExceeded
from baton.resilience import deadline

_SLACK = 0.005
"""Seconds of timer imprecision tolerated when deciding that the deadline (not the try) expired."""


def deadline_expiry(request: Request, bound: bool) -> DeadlineExceeded | None:
    """The deadline's expiry (not retryable) a try's ``CallTimeout`` stands for, or ``None``: a per-try timeout.

    Only a spent budget is a deadline expiry; an earlier per-try timeout stays retryable.
    """
    if not bound:
        return None
    after = deadline.remaining()
    if after is None or after > _SLACK:
        return None
    return DeadlineExceeded(
        f"deadline expired during try {request.attempt} of {request.target.key!r}", target=request.target.key
    )
