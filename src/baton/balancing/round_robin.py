"""Round robin: each instance in turn, whatever its load."""

from __future__ import annotations

from collections.abc import Sequence

from baton.discovery.base import Instance


class RoundRobin:
    """Cycles through the candidates; cheapest, fair when instances are alike."""

    def __init__(self) -> None:
        self._next = 0

    def pick(self, instances: Sequence[Instance]) -> Instance:
        """The next instance in turn (the list may change between calls; the cursor just wraps)."""
        index = self._next % len(instances)
        self._next = index + 1
        return instances[index]

    def done(self, instance: Instance, *, latency: float, failed: bool) -> None:
        """Round robin learns nothing from outcomes."""
