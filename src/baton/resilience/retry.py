"""Retry arithmetic: which requests may be retried, how long to back off, and the per-target budget.

The budget follows Linkerd/Envoy/Finagle: over a sliding window (10 s by default) retries may add at most
``budget_ratio`` (20%) of the original requests, plus a floor of ``budget_min_per_second`` (10/s) so a
quiet target can still retry. A retry storm therefore amplifies load by at most ~1.2x.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping

from baton.resilience.clock import MONOTONIC, Clock
from baton.resilience.policies import IDEMPOTENT_METHODS, RetryPolicy

IDEMPOTENCY_HEADER = "Idempotency-Key"
_BUCKETS = 10


def is_retryable_request(method: str, headers: Mapping[str, str] | None = None) -> bool:
    """Whether repeating this request is safe: an idempotent method or an ``Idempotency-Key`` header."""
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    if not headers:
        return False
    return any(key.lower() == "idempotency-key" for key in headers)


def backoff_cap(policy: RetryPolicy, retry: int) -> float:
    """The upper bound of the sleep before retry number ``retry`` (1 = first retry), in seconds."""
    if retry < 1:
        raise ValueError("retry numbers start at 1")
    return min(policy.max_backoff, policy.initial_backoff * policy.multiplier ** (retry - 1))


def backoff(policy: RetryPolicy, retry: int, rng: random.Random | None = None) -> float:
    """The sleep before retry number ``retry``: uniform in ``[0, cap]`` ("full jitter", AWS architecture blog).

    Full jitter spreads synchronised clients apart, which matters more than the exact curve.
    """
    return (rng or random).uniform(0.0, backoff_cap(policy, retry))


class _SlidingCounter:
    """A count over the last ``window`` seconds, in ``_BUCKETS`` buckets (so it forgets smoothly).

    The hot path is one comparison and one increment: the bucket only changes when its slot has ended.
    """

    def __init__(self, window: float, clock: Clock) -> None:
        self._width = window / _BUCKETS
        self._clock = clock
        self._counts = [0] * _BUCKETS
        self._slots = [-1] * _BUCKETS
        self._index = 0
        self._slot_end = -math.inf

    def add(self) -> None:
        now = self._clock.now()
        if now >= self._slot_end:
            slot = math.floor(now / self._width)
            self._index = slot % _BUCKETS
            self._slot_end = (slot + 1) * self._width
            if self._slots[self._index] != slot:
                self._slots[self._index] = slot
                self._counts[self._index] = 0
        self._counts[self._index] += 1

    def total(self) -> int:
        current = math.floor(self._clock.now() / self._width)
        return sum(
            count for count, slot in zip(self._counts, self._slots, strict=True) if current - _BUCKETS < slot <= current
        )


class RetryBudget:
    """Per-target retry budget: ``retries ≤ ratio × requests + min_per_second × window`` over the window."""

    def __init__(self, policy: RetryPolicy, *, clock: Clock = MONOTONIC) -> None:
        self.policy = policy
        self._requests = _SlidingCounter(policy.budget_window, clock)
        self._retries = _SlidingCounter(policy.budget_window, clock)
        self._floor = policy.budget_min_per_second * policy.budget_window
        self.on_request: Callable[[], None] = self._requests.add
        """Count one original (non-retry) request (the counter's own method: one Python call per request)."""

    def allowance(self) -> float:
        """How many retries the window allows in total right now."""
        return self.policy.budget_ratio * self._requests.total() + self._floor

    def try_withdraw(self) -> bool:
        """Take one retry from the budget; ``False`` (and nothing taken) when it is spent."""
        if self._retries.total() + 1 > self.allowance():
            return False
        self._retries.add()
        return True

    def counts(self) -> tuple[int, int]:
        """``(requests, retries)`` inside the window (for tests and the dashboard)."""
        return self._requests.total(), self._retries.total()
