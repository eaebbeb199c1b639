"""Least outstanding requests ("least connections"): send to the instance with the fewest calls in flight."""

from __future__ import annotations

import random
from collections.abc import Sequence

from baton.discovery.base import Instance


class LeastOutstanding:
    """Picks the instance with the fewest in-flight calls; ties are broken at random (seeded for tests)."""

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._outstanding: dict[str, int] = {}

    def outstanding(self, instance: Instance) -> int:
        """Calls in flight to ``instance``."""
        return self._outstanding.get(instance.id, 0)

    def pick(self, instances: Sequence[Instance]) -> Instance:
        """The least loaded instance; counts the new call on it."""
        counts = self._outstanding
        least = min(counts.get(i.id, 0) for i in instances)
        tied = [i for i in instances if counts.get(i.id, 0) == least]
        chosen = tied[0] if len(tied) == 1 else self._rng.choice(tied)
        counts[chosen.id] = least + 1
        return chosen

    def done(self, instance: Instance, *, latency: float, failed: bool) -> None:
        """One call fewer in flight on ``instance``."""
        count = self._outstanding.get(instance.id, 0)
        if count <= 1:
            self._outstanding.pop(instance.id, None)
        else:
            self._outstanding[instance.id] = count - 1
