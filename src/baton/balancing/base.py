"""The balancer seam: pick one instance for a try, and hear how that try went.

Backends are siblings: ``round_robin``, ``least_outstanding`` and ``peak_ewma`` (power of two choices over
latency × load, Linkerd's default). Outlier ejection is separate (:mod:`baton.balancing.outlier`): it
filters the candidates before any balancer picks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from baton.discovery.base import Instance


@runtime_checkable
class Balancer(Protocol):
    """Chooses an instance per try; ``pick`` and ``done`` bracket every try."""

    def pick(self, instances: Sequence[Instance]) -> Instance:
        """Choose one of ``instances`` (never empty) and count it as having one more call in flight."""

    def done(self, instance: Instance, *, latency: float, failed: bool) -> None:
        """The try on ``instance`` finished after ``latency`` seconds; ``failed`` for 5xx/connect errors."""
