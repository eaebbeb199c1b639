"""When to restart a failed instance: exponential backoff and the crash-loop verdict.

The policy is data (:class:`RestartPolicy`); the per-instance memory of recent failures is
:class:`RestartTracker`. Like Kubernetes' CrashLoopBackOff, a crash-looping instance keeps being retried at
the capped delay: the state tells the user something is wrong, the retries let a fixed dependency heal it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How quickly failed instances come back."""

    initial: float = 0.5
    """Seconds before the first restart."""
    factor: float = 2.0
    """Each further consecutive failure multiplies the delay by this."""
    cap: float = 30.0
    """Longest delay, in seconds."""
    crashloop_restarts: int = 5
    """This many restarts within ``crashloop_window`` mark the instance as crash-looping."""
    crashloop_window: float = 60.0
    """Seconds over which restarts are counted for the crash-loop verdict."""
    stable_after: float = 10.0
    """Seconds of healthy running after which the backoff starts again from ``initial``."""

    def delay(self, consecutive_failures: int) -> float:
        """Delay before restart number ``consecutive_failures`` (1-based): 0.5, 1, 2, 4 … capped."""
        if consecutive_failures < 1:
            return 0.0
        return min(self.cap, self.initial * self.factor ** (consecutive_failures - 1))


@dataclass
class RestartTracker:
    """Failures of one instance slot, against a :class:`RestartPolicy`. Times are monotonic seconds."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    consecutive: int = 0
    """Failures since the instance last ran stably."""
    total: int = 0
    """Restarts over the slot's lifetime (shown as ``restarts`` by ``baton ps``)."""
    _recent: deque[float] = field(default_factory=deque)

    def failed(self, now: float) -> float:
        """Record a failure at ``now``; return the delay before the restart."""
        self.consecutive += 1
        self.total += 1
        self._recent.append(now)
        self._forget(now)
        return self.policy.delay(self.consecutive)

    def healthy_since(self, since: float, now: float) -> None:
        """The instance has been healthy since ``since``; long enough resets the backoff."""
        if now - since >= self.policy.stable_after:
            self.consecutive = 0

    def crashlooping(self, now: float) -> bool:
        """Whether restarts within the window reached the crash-loop threshold."""
        self._forget(now)
        return len(self._recent) >= self.policy.crashloop_restarts

    def _forget(self, now: float) -> None:
        while self._recent and now - self._recent[0] > self.policy.crashloop_window:
            self._recent.popleft()
