"""Canary weights inside the system: a service's traffic split by version, as the rollout says, at every caller.

During a canary the gateway splits the public traffic (:mod:`baton.gateway.overlay`). Calls between services
(order → payment) go through each caller's balancer instead, so the control plane also writes the split into
discovery: every instance of the service being released carries ``metadata["weight"]``, the percent of the
service's traffic its *version* should get (``90`` on the stable instances, ``10`` on the canary's at a 10 % step).

:class:`TrackWeighted` wraps any balancer: when the candidates carry weights it first draws a version by weight,
then lets the inner balancer pick among that version's instances (so peak-EWMA or round robin still spread the
load inside a version). Without weights — the normal case — it is the inner balancer, at the cost of one look at
the first candidate's metadata per pick (groups are cached per candidate list).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from baton.balancing.base import Balancer
from baton.discovery.base import Instance

__all__ = ["WEIGHT", "TrackWeighted", "version_shares"]

WEIGHT = "weight"
"""Instance metadata key: percent of its service's traffic for the instance's version (``"0"``…``"100"``)."""


def version_shares(instances: Sequence[Instance]) -> dict[str, float] | None:
    """``{version: weight}`` from the instances' metadata; ``None`` when none of them carries a weight.

    A version whose instances carry no weight (an instance registered before the split was set) gets none.
    """
    shares: dict[str, float] = {}
    weighted = False
    for instance in instances:
        raw = instance.metadata.get(WEIGHT)
        if raw is None:
            shares.setdefault(instance.version, 0.0)
            continue
        try:
            value = max(0.0, float(raw))
        except ValueError:
            continue
        weighted = True
        shares[instance.version] = max(shares.get(instance.version, 0.0), value)
    return shares if weighted else None


class TrackWeighted:
    """A :class:`Balancer` that honours per-version weights from discovery, then delegates."""

    def __init__(self, inner: Balancer, *, rng: Callable[[], float] | None = None) -> None:
        self.inner = inner
        self._random = rng or random.random
        self._cached: Sequence[Instance] | None = None
        self._groups: list[tuple[float, list[Instance]]] | None = None
        self.done: Callable[..., None] = inner.done
        """Pass the outcome to the inner balancer (its own method: no call of ours in between)."""

    def _split(self, instances: Sequence[Instance]) -> list[tuple[float, list[Instance]]] | None:
        if instances is self._cached:
            return self._groups
        groups: list[tuple[float, list[Instance]]] | None = None
        if any(WEIGHT in i.metadata for i in instances):
            shares = version_shares(instances) or {}
            by_version: dict[str, list[Instance]] = {}
            for instance in instances:
                by_version.setdefault(instance.version, []).append(instance)
            groups = [(shares.get(version, 0.0), members) for version, members in by_version.items()]
            if sum(weight for weight, _ in groups) <= 0:
                groups = None  # all weights zero: nothing to prefer, balance over everyone
        self._cached, self._groups = instances, groups
        return groups

    def pick(self, instances: Sequence[Instance]) -> Instance:
        """Draw a version by weight (when the candidates carry weights), then the inner balancer's pick in it."""
        groups = self._groups if instances is self._cached else self._split(instances)  # cached: no call
        if groups is None or len(groups) == 1:
            return self.inner.pick(instances)
        total = sum(weight for weight, _ in groups)
        draw = self._random() * total
        for weight, members in groups:
            if draw < weight:
                return self.inner.pick(members)
            draw -= weight
        return self.inner.pick(next(members for weight, members in reversed(groups) if weight > 0))
