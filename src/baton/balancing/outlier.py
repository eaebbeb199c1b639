"""Outlier ejection (Envoy's consecutive-5xx detector): take a failing instance out of rotation for a while.

An instance is ejected after ``consecutive_failures`` 5xx answers or connect errors in a row. It comes back by
itself when its ejection time has passed; each repeat ejection lasts longer (``base_ejection`` × times ejected,
capped at ``max_ejection``). Never more than ``max_ejection_percent`` of the pool is ejected at once, so a
bad deploy or a network blip cannot empty the rotation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from baton.discovery.base import Instance
from baton.resilience.clock import MONOTONIC, Clock


@dataclass(frozen=True, slots=True)
class OutlierPolicy:
    """When to eject an instance and for how long."""

    consecutive_failures: int = 5
    """5xx answers or connect errors in a row that eject an instance."""
    base_ejection: float = 30.0
    """Seconds of the first ejection; the n-th repeat lasts n × this."""
    max_ejection: float = 300.0
    """Seconds; no ejection lasts longer. An instance healthy this long after an ejection starts afresh."""
    max_ejection_percent: float = 50.0
    """Percent of the pool that may be ejected at once (50: never more than half)."""

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1 or self.base_ejection <= 0 or self.max_ejection < self.base_ejection:
            raise ValueError("need consecutive_failures >= 1 and 0 < base_ejection <= max_ejection")
        if not 0 <= self.max_ejection_percent <= 100:
            raise ValueError("max_ejection_percent is a percent in [0, 100]")


@dataclass(slots=True)
class _Host:
    failures: int = 0
    times_ejected: int = 0
    ejected_until: float = 0.0


class OutlierDetector:
    """Tracks consecutive failures per instance and filters ejected ones out of the candidates."""

    def __init__(
        self,
        policy: OutlierPolicy | None = None,
        *,
        clock: Clock = MONOTONIC,
        on_eject: Callable[[Instance, float], None] | None = None,
    ) -> None:
        """Args: policy; clock; on_eject: called with the instance and the ejection seconds (for metrics)."""
        self.policy = policy or OutlierPolicy()
        self._clock = clock
        self._on_eject = on_eject
        self._hosts: dict[str, _Host] = {}
        self._last_return = 0.0
        """When the last current ejection ends: before it nothing needs filtering (the common case)."""

    def is_ejected(self, instance: Instance) -> bool:
        """Whether ``instance`` is out of rotation right now."""
        host = self._hosts.get(instance.id)
        return host is not None and host.ejected_until > self._clock.now()

    def available(self, instances: Sequence[Instance]) -> Sequence[Instance]:
        """``instances`` minus the ejected ones (all of them if every one is ejected)."""
        if not self._last_return:
            return instances  # nobody is ejected: no clock reading needed
        now = self._clock.now()
        if now >= self._last_return:
            self._last_return = 0.0  # every ejection has ended
            return instances
        hosts = self._hosts
        kept = [i for i in instances if (h := hosts.get(i.id)) is None or h.ejected_until <= now]
        return kept or instances

    def record(self, instance: Instance, *, failed: bool, pool: Sequence[Instance]) -> bool:
        """Count one outcome on ``instance`` (of ``pool``); return whether it was ejected by it."""
        host = self._hosts.get(instance.id)
        if not failed:
            if host is not None:
                host.failures = 0
            return False
        if host is None:
            host = self._hosts[instance.id] = _Host()
        host.failures += 1
        now = self._clock.now()
        if host.failures < self.policy.consecutive_failures or host.ejected_until > now:
            return False
        ejected = sum(1 for i in pool if self.is_ejected(i))
        if (ejected + 1) * 100.0 > self.policy.max_ejection_percent * len(pool):
            return False
        if host.times_ejected and now - host.ejected_until > self.policy.max_ejection:
            host.times_ejected = 0
        host.times_ejected += 1
        seconds = min(self.policy.base_ejection * host.times_ejected, self.policy.max_ejection)
        host.ejected_until = now + seconds
        self._last_return = max(self._last_return, host.ejected_until)
        host.failures = 0
        if self._on_eject is not None:
            self._on_eject(instance, seconds)
        return True

    def forget(self, keep: Sequence[Instance]) -> None:
        """Drop the state of instances no longer in ``keep`` (they left discovery)."""
        ids = {i.id for i in keep}
        for gone in [key for key in self._hosts if key not in ids]:
            del self._hosts[gone]
