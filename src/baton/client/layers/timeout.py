"""Per-try timeout: how long one try may take, cut to what the overall deadline leaves."""

from __future__ import annotations

from baton.client.base import Request
from baton.errors import DeadlineExceeded
from baton.resilience import deadline

_SLACK = 0.005
"""Seconds of timer imprecision tolerated when deciding that the deadline (not the try) expired."""


def try_timeout(request: Request, per_try: float | None, left: float | None) -> bool:
    """Set ``request.try_timeout`` (the transport arms it: one timer per try, as aiohttp does anyway).

    Args:
        per_try: the policy's per-try seconds (a per-call ``per_try_timeout`` overrides it).
        left: seconds the deadline leaves (``None``: no deadline).

    Returns whether the deadline, not the per-try timeout, bounds this try.

    Raises:
        DeadlineExceeded: the overall deadline is already spent.
    """
    if request.options.per_try_timeout is not None:
        per_try = request.options.per_try_timeout
    if left is None:
        request.try_timeout = per_try
        return False
    if left <= 0:
        raise DeadlineExceeded(f"deadline spent before try {request.attempt}", target=request.target.key)
    if per_try is None or left < per_try:
        request.try_timeout = left
        return True
    request.try_timeout = per_try
    return False


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
