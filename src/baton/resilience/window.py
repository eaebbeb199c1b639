"""Sliding windows that aggregate call outcomes for the circuit breaker.

Two shapes, as in Resilience4j: a count window keeps the last *N* calls in a ring; a time window keeps one
bucket per second of the last *N* seconds. Both keep running totals so a snapshot is O(1).
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple, Protocol

from baton.resilience.clock import Clock


class WindowTotals(NamedTuple):
    """Aggregated outcomes currently inside a window (a tuple: built on every recorded call)."""

    calls: int = 0
    failed: int = 0
    slow: int = 0

    @property
    def successful(self) -> int:
        """Calls that did not fail (slow or not)."""
        return self.calls - self.failed


class Window(Protocol):
    """Aggregates outcomes over a sliding window."""

    def record(self, *, failed: bool, slow: bool) -> WindowTotals:
        """Add one outcome; return the totals including it."""

    def totals(self) -> WindowTotals:
        """The totals right now (time windows drop expired buckets first)."""


_FAILED, _SLOW = 1, 2


class CountWindow:
    """The last ``size`` outcomes, in a ring."""

    def __init__(self, size: int) -> None:
        self._ring: deque[int] = deque(maxlen=size)
        self._calls = self._failed = self._slow = 0

    def record(self, *, failed: bool, slow: bool) -> WindowTotals:
        """Add one outcome, evicting the oldest when the ring is full."""
        if len(self._ring) == self._ring.maxlen:
            old = self._ring[0]
            self._calls -= 1
            self._failed -= old & _FAILED
            self._slow -= (old & _SLOW) >> 1
        code = (_FAILED if failed else 0) | (_SLOW if slow else 0)
        self._ring.append(code)
        self._calls += 1
        self._failed += int(failed)
        self._slow += int(slow)
        return WindowTotals(self._calls, self._failed, self._slow)

    def totals(self) -> WindowTotals:
        """The totals of the ring."""
        return WindowTotals(self._calls, self._failed, self._slow)


class TimeWindow:
    """The outcomes of the last ``seconds`` whole seconds, one bucket per second."""

    def __init__(self, seconds: int, clock: Clock) -> None:
        self._seconds = seconds
        self._clock = clock
        # Each bucket: [epoch_second, calls, failed, slow]; mutable lists keep the hot path allocation-free.
        self._buckets: deque[list[int]] = deque()
        self._calls = self._failed = self._slow = 0

    def _expire(self) -> int:
        second = math.floor(self._clock.now())
        oldest_kept = second - self._seconds + 1
        while self._buckets and self._buckets[0][0] < oldest_kept:
            _, calls, failed, slow = self._buckets.popleft()
            self._calls -= calls
            self._failed -= failed
            self._slow -= slow
        return second

    def record(self, *, failed: bool, slow: bool) -> WindowTotals:
        """Add one outcome to the current second's bucket."""
        second = self._expire()
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0, 0])
        bucket = self._buckets[-1]
        bucket[1] += 1
        bucket[2] += int(failed)
        bucket[3] += int(slow)
        self._calls += 1
        self._failed += int(failed)
        self._slow += int(slow)
        return WindowTotals(self._calls, self._failed, self._slow)

    def totals(self) -> WindowTotals:
        """The totals of the buckets still inside the window."""
        self._expire()
        return WindowTotals(self._calls, self._failed, self._slow)
