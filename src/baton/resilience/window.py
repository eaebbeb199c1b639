"""Sliding windows that aggregate call outcomes for the circuit breaker.

Two shapes, as in Resilience4j: a count window keeps the last *N* calls in a ring; a time window keeps one
bucket per second of the last *N* seconds. Both keep running totals (``calls``, ``failed``, ``slow``) as plain
attributes, so recording is allocation-free and a snapshot is O(1).
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple, Protocol

from baton.resilience.clock import Clock


class WindowTotals(NamedTuple):
    """Aggregated outcomes currently inside a window (a snapshot; the hot path reads the attributes)."""

    calls: int = 0
    failed: int = 0
    slow: int = 0

    @property
    def successful(self) -> int:
        """Calls that did not fail (slow or not)."""
        return self.calls - self.failed


class Window(Protocol):
    """Aggregates outcomes over a sliding window; ``calls``, ``failed`` and ``slow`` are the running totals."""

    calls: int
    failed: int
    slow: int

    def record(self, *, failed: bool, slow: bool) -> None:
        """Add one outcome; the totals include it afterwards."""

    def totals(self) -> WindowTotals:
        """The totals right now (time windows drop expired buckets first)."""


_FAILED, _SLOW = 1, 2


class CountWindow:
    """The last ``size`` outcomes, in a ring."""

    def __init__(self, size: int) -> None:
        self._ring: deque[int] = deque(maxlen=size)
        self._size = size
        self.calls = self.failed = self.slow = 0

    def record(self, *, failed: bool, slow: bool) -> None:
        """Add one outcome, evicting the oldest when the ring is full."""
        if self.calls == self._size:
            old = self._ring[0]
            self.calls -= 1
            if old:
                self.failed -= old & _FAILED
                self.slow -= (old & _SLOW) >> 1
        if failed or slow:
            self._ring.append((_FAILED if failed else 0) | (_SLOW if slow else 0))
            self.failed += failed
            self.slow += slow
        else:
            self._ring.append(0)
        self.calls += 1

    def totals(self) -> WindowTotals:
        """The totals of the ring."""
        return WindowTotals(self.calls, self.failed, self.slow)


class TimeWindow:
    """The outcomes of the last ``seconds`` whole seconds, one bucket per second."""

    def __init__(self, seconds: int, clock: Clock) -> None:
        self._seconds = seconds
        self._clock = clock
        # Each bucket: [epoch_second, calls, failed, slow]; mutable lists keep the hot path allocation-free.
        self._buckets: deque[list[int]] = deque()
        self.calls = self.failed = self.slow = 0

    def _expire(self) -> int:
        second = math.floor(self._clock.now())
        oldest_kept = second - self._seconds + 1
        while self._buckets and self._buckets[0][0] < oldest_kept:
            _, calls, failed, slow = self._buckets.popleft()
            self.calls -= calls
            self.failed -= failed
            self.slow -= slow
        return second

    def record(self, *, failed: bool, slow: bool) -> None:
        """Add one outcome to the current second's bucket (dropping expired buckets first)."""
        second = self._expire()
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0, 0])
        bucket = self._buckets[-1]
        bucket[1] += 1
        bucket[2] += failed
        bucket[3] += slow
        self.calls += 1
        self.failed += failed
        self.slow += slow

    def totals(self) -> WindowTotals:
        """The totals of the buckets still inside the window."""
        self._expire()
        return WindowTotals(self.calls, self.failed, self.slow)
