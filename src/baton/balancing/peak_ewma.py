"""Peak-EWMA with power of two choices (Finagle/Linkerd's default balancer).

Each instance has a cost = peak-sensitive moving average of its latency × (calls in flight + 1). A latency
above the average replaces it at once (the "peak"), so a slowing instance is avoided immediately; below it, the
average decays towards the sample with time constant ``decay`` seconds. Two distinct candidates are drawn at
random and the cheaper wins: nearly as good as scanning all, without herding every client onto one instance.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from baton.discovery.base import Instance
from baton.resilience.clock import MONOTONIC, Clock

PENALTY = 1e6
"""Cost of a busy instance never measured yet (Finagle's penalty): try measured ones first."""


@dataclass(slots=True)
class _Stats:
    ewma: float = 0.0
    stamp: float = 0.0
    outstanding: int = 0


class PeakEwma:
    """Power-of-two-choices over peak-EWMA latency × load."""

    def __init__(self, *, decay: float = 10.0, rng: random.Random | None = None, clock: Clock = MONOTONIC) -> None:
        """Args: decay: seconds for the average to forget an old peak (time constant); rng; clock."""
        self._decay = decay
        self._rng = rng or random.Random()
        self._clock = clock
        self._stats: dict[str, _Stats] = {}

    def _get(self, instance: Instance) -> _Stats:
        stats = self._stats.get(instance.id)
        if stats is None:
            stats = self._stats[instance.id] = _Stats(stamp=self._clock.now())
        return stats

    def cost(self, instance: Instance) -> float:
        """Current cost of ``instance``: decayed latency average × (in flight + 1)."""
        return self._cost(self._get(instance), self._clock.now())

    def _cost(self, stats: _Stats, now: float) -> float:
        if stats.ewma == 0.0:
            return PENALTY + stats.outstanding if stats.outstanding else 0.0
        ewma = stats.ewma * math.exp((stats.stamp - now) / self._decay) if now > stats.stamp else stats.ewma
        return ewma * (stats.outstanding + 1)

    def pick(self, instances: Sequence[Instance]) -> Instance:
        """The cheaper of two distinct random candidates; counts the new call on it."""
        if len(instances) == 1:
            chosen = instances[0]
            stats = self._stats.get(chosen.id) or self._get(chosen)
        else:
            # Two distinct indexes from two uniform draws (cheaper than rng.sample on the hot path).
            count = len(instances)
            random = self._rng.random
            first = int(random() * count)
            second = int(random() * (count - 1))
            if second >= first:
                second += 1
            a, b = instances[first], instances[second]
            stats_a, stats_b = self._get(a), self._get(b)
            now = self._clock.now()
            if self._cost(stats_a, now) <= self._cost(stats_b, now):
                chosen, stats = a, stats_a
            else:
                chosen, stats = b, stats_b
        stats.outstanding += 1
        return chosen

    def done(self, instance: Instance, *, latency: float, failed: bool) -> None:
        """Fold ``latency`` into the instance's average (peaks replace it) and count the call as finished."""
        stats = self._stats.get(instance.id) or self._get(instance)
        if stats.outstanding:
            stats.outstanding -= 1
        now = self._clock.now()
        if latency > stats.ewma:
            stats.ewma = latency
        elif now > stats.stamp:
            weight = math.exp((stats.stamp - now) / self._decay)
            stats.ewma = stats.ewma * weight + latency * (1.0 - weight)
        stats.stamp = now
