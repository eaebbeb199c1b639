"""Balancing: which instance gets the next try.

Choose by name (``balancer: peak_ewma`` in config) with :func:`balancer_from_name`; outlier ejection
(:class:`OutlierDetector`) filters the candidates first. Every balancer it returns honours a rollout's per-version
weights from discovery (:class:`TrackWeighted`), so a canary gets its step's share of service-to-service calls too.
"""

from __future__ import annotations

import random

from baton.balancing.base import Balancer
from baton.balancing.least_outstanding import LeastOutstanding
from baton.balancing.outlier import OutlierDetector, OutlierPolicy
from baton.balancing.peak_ewma import PeakEwma
from baton.balancing.round_robin import RoundRobin
from baton.balancing.tracks import TrackWeighted
from baton.errors import ConfigError
from baton.resilience.clock import MONOTONIC, Clock

BALANCERS = ("round_robin", "least_outstanding", "peak_ewma")
"""Names accepted by :func:`balancer_from_name`."""


def balancer_from_name(
    name: str = "peak_ewma", *, rng: random.Random | None = None, clock: Clock = MONOTONIC
) -> Balancer:
    """A fresh balancer of the named kind, wrapped in :class:`TrackWeighted` (a no-op without rollout weights).

    Raises:
        ConfigError: unknown name.
    """
    inner: Balancer
    if name == "round_robin":
        inner = RoundRobin()
    elif name == "least_outstanding":
        inner = LeastOutstanding(rng=rng)
    elif name == "peak_ewma":
        inner = PeakEwma(rng=rng, clock=clock)
    else:
        raise ConfigError(f"unknown balancer {name!r}; choose one of {', '.join(BALANCERS)}")
    return TrackWeighted(inner, rng=rng.random if rng is not None else None)


__all__ = [
    "BALANCERS",
    "Balancer",
    "LeastOutstanding",
    "OutlierDetector",
    "OutlierPolicy",
    "PeakEwma",
    "RoundRobin",
    "balancer_from_name",
]
