"""Balancing: which instance gets the next try.

Choose by name (``balancer: peak_ewma`` in config) with :func:`balancer_from_name`; outlier ejection
(:class:`OutlierDetector`) filters the candidates first.
"""

from __future__ import annotations

import random

from baton.balancing.base import Balancer
from baton.balancing.least_outstanding import LeastOutstanding
from baton.balancing.outlier import OutlierDetector, OutlierPolicy
from baton.balancing.peak_ewma import PeakEwma
from baton.balancing.round_robin import RoundRobin
from baton.errors import ConfigError
from baton.resilience.clock import MONOTONIC, Clock

BALANCERS = ("round_robin", "least_outstanding", "peak_ewma")
"""Names accepted by :func:`balancer_from_name`."""


def balancer_from_name(
    name: str = "peak_ewma", *, rng: random.Random | None = None, clock: Clock = MONOTONIC
) -> Balancer:
    """A fresh balancer of the named kind.

    Raises:
        ConfigError: unknown name.
    """
    if name == "round_robin":
        return RoundRobin()
    if name == "least_outstanding":
        return LeastOutstanding(rng=rng)
    if name == "peak_ewma":
        return PeakEwma(rng=rng, clock=clock)
    raise ConfigError(f"unknown balancer {name!r}; choose one of {', '.join(BALANCERS)}")


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
