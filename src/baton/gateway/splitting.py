"""Weighted splits between a route's backends: nginx's smooth weighted round-robin.

Deterministic and exact: with weights 90/10, every run of 10 picks holds exactly one pick of the second
backend, spread out rather than bunched, so a 10% canary gets 10% of the traffic from the first requests
on. Rollouts change the weights by reloading the route table.
"""

from __future__ import annotations

from collections.abc import Sequence


class WeightedPicker:
    """Pick an index in proportion to ``weights`` (smooth weighted round-robin)."""

    __slots__ = ("_current", "_single", "_total", "_weights")

    def __init__(self, weights: Sequence[int]) -> None:
        if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        self._weights = list(weights)
        self._current = [0] * len(weights)
        self._total = sum(weights)
        nonzero = [i for i, w in enumerate(weights) if w > 0]
        self._single = nonzero[0] if len(nonzero) == 1 else -1

    def pick(self) -> int:
        """The index of the next backend."""
        if self._single >= 0:
            return self._single
        current, weights = self._current, self._weights
        best = 0
        for i in range(len(weights)):
            current[i] += weights[i]
            if current[i] > current[best]:
                best = i
        current[best] -= self._total
        return best
