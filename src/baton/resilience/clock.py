"""Clocks: the one place resilience code reads time, so tests can drive it.

Every stateful building block (breaker windows, retry budgets, outlier ejection, peak-EWMA) takes a
:class:`Clock`; production uses :data:`MONOTONIC`, tests use :class:`ManualClock` and advance it by hand.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic time source, in seconds."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences are meaningful)."""


class MonotonicClock:
    """The process's monotonic clock: ``now()`` is ``time.monotonic()``."""

    # The builtin itself rather than a method calling it: clients read the clock several times per call,
    # and a Python frame per reading costs more than the reading.
    now = staticmethod(time.monotonic)


class ManualClock:
    """A clock that only moves when told to (for table-driven tests)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start

    def now(self) -> float:
        """The current manual time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must be >= 0)."""
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        self._now += seconds


MONOTONIC: Clock = MonotonicClock()
"""The shared production clock."""
