"""Rotation: the supervisor's view of discovery. Ready instances are registered, unready ones are not.

Discovery is the client engineer's :class:`~baton.discovery.base.Registry` (NATS KV by default). A registry
outage must never stop supervision, so failures are logged and the next readiness change tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from baton.discovery.base import Instance, Registry

log = logging.getLogger("baton.control.rotation")


class Rotation:
    """Registers ready instances with a :class:`Registry` (or only remembers them when there is none)."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry
        self.members: dict[str, Instance] = {}
        """Instances currently in rotation, by id."""
        self.splits: dict[str, dict[str, int]] = {}
        """A rollout's traffic split per service (version → percent), published beside the instances so callers'
        balancers honour it (:meth:`baton.discovery.nats_kv.NatsKvRegistry.split`)."""

    async def attach(self, registry: Registry) -> None:
        """Start registering into ``registry`` (connected after the instances were launched); catch up."""
        self.registry = registry
        for instance in list(self.members.values()):
            await self.add(instance)
        for service, shares in list(self.splits.items()):
            await self.split(service, shares)

    async def split(self, service: str, shares: Mapping[str, int] | None) -> None:
        """Split ``service``'s traffic by version for every caller (``None``: no split); registries without
        splits (static, DNS) only remember it."""
        if shares is None:
            self.splits.pop(service, None)
        else:
            self.splits[service] = dict(shares)
        publish = getattr(self.registry, "split", None)
        if publish is None:
            return
        try:
            await publish(service, shares)
        except Exception as exc:  # a registry outage must not stop a rollout; the gateway still splits
            log.warning("cannot publish the traffic split of %s: %s", service, exc)

    async def add(self, instance: Instance) -> None:
        """Put ``instance`` in rotation."""
        self.members[instance.id] = instance
        if self.registry is not None:
            try:
                await self.registry.register(instance)
            except Exception as exc:  # a foreign backend error must not kill the supervisor
                log.warning("cannot register %s: %s", instance.id, exc)

    async def remove(self, instance: Instance) -> None:
        """Take ``instance`` out of rotation."""
        self.members.pop(instance.id, None)
        if self.registry is not None:
            try:
                await self.registry.deregister(instance)
            except Exception as exc:  # same as above
                log.warning("cannot deregister %s: %s", instance.id, exc)

    def ready(self, service: str) -> list[Instance]:
        """Instances of ``service`` in rotation."""
        return [i for i in self.members.values() if i.service == service]
