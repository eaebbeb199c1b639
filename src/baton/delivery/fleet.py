"""Running the new version beside the stable one: the :class:`Fleet` protocol and its backends.

* :class:`SupervisorFleet` — the control plane's supervisor: the new version's instances run on a second *track*
  of the same service (same name in discovery, their own ``version``), see
  :meth:`~baton.control.supervisor.Supervisor.launch_track`;
* :class:`MemoryFleet` — bookkeeping only (unit tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from baton.control.manifest import ServiceSpec
    from baton.control.supervisor import Supervisor

__all__ = ["RELEASE_TRACK", "Fleet", "Member", "MemoryFleet", "SupervisorFleet"]

RELEASE_TRACK = "release"
"""Supervisor track the new version runs on until it is adopted or stopped."""


@dataclass(frozen=True, slots=True)
class Member:
    """One running instance as a rollout sees it."""

    id: str
    url: str
    version: str
    ready: bool = True


class Fleet(Protocol):
    """Starts, adopts and stops the new version of a service."""

    async def launch(self, service: str, spec: ServiceSpec, *, replicas: int) -> list[Member]:
        """Start ``replicas`` instances of ``spec`` beside the stable ones; ready on return."""
        ...

    async def adopt(self, service: str) -> None:
        """The new version becomes the stable one; the old instances are stopped."""
        ...

    async def retire(self, service: str) -> None:
        """Stop the new version's instances."""
        ...

    def members(self, service: str) -> tuple[list[Member], list[Member]]:
        """``(stable, new)`` instances now."""
        ...


class SupervisorFleet:
    """A :class:`Fleet` over the control plane's supervisor."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    async def launch(self, service: str, spec: ServiceSpec, *, replicas: int) -> list[Member]:
        """Start the release track (raises :class:`~baton.errors.ControlError` when it cannot become ready)."""
        slots = await self.supervisor.launch_track(service, spec, track=RELEASE_TRACK, replicas=replicas)
        return [Member(s.id, s.url, s.version, s.ready) for s in slots]

    async def adopt(self, service: str) -> None:
        """Adopt the release track as the stable replicas."""
        await self.supervisor.adopt_track(service, RELEASE_TRACK)

    async def retire(self, service: str) -> None:
        """Stop the release track."""
        await self.supervisor.stop_track(service, RELEASE_TRACK)

    def members(self, service: str) -> tuple[list[Member], list[Member]]:
        """Stable and release-track instances."""
        from baton.control.supervisor import STABLE

        def of(track: str) -> list[Member]:
            return [Member(s.id, s.url, s.version, s.ready) for s in self.supervisor.track_slots(service, track)]

        return of(STABLE), of(RELEASE_TRACK)


class MemoryFleet:
    """Instances as records only: what a unit test needs to follow a rollout's effects."""

    def __init__(self, stable: dict[str, list[Member]] | None = None) -> None:
        self.stable = stable or {}
        self.new: dict[str, list[Member]] = {}
        self.log: list[str] = []

    async def launch(self, service: str, spec: ServiceSpec, *, replicas: int) -> list[Member]:
        """Record ``replicas`` new members."""
        base = len(self.stable.get(service, [])) + 1
        self.new[service] = [
            Member(f"{service}-{base + i}", f"http://127.0.0.1:{9000 + base + i}", spec.version)
            for i in range(replicas)
        ]
        self.log.append(f"launch {service} {spec.version} x{replicas}")
        return list(self.new[service])

    async def adopt(self, service: str) -> None:
        """The new members become the stable ones."""
        self.stable[service] = self.new.pop(service, [])
        self.log.append(f"adopt {service}")

    async def retire(self, service: str) -> None:
        """Forget the new members."""
        self.new.pop(service, None)
        self.log.append(f"retire {service}")

    def members(self, service: str) -> tuple[list[Member], list[Member]]:
        """Stable and new members."""
        return list(self.stable.get(service, [])), list(self.new.get(service, []))
