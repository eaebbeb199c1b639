"""The kit component that puts a service instance into discovery while it is ready.

Lifecycle (see :mod:`baton.kit.component`): ``start`` registers the instance (the backend keeps it alive,
e.g. NATS KV heartbeats); ``drain`` deregisters it first thing on shutdown so callers stop picking it while
in-flight requests finish; ``stop`` releases the heartbeats. The kit calls :meth:`mark_unready` /
:meth:`mark_ready` when readiness flips, so an unready instance leaves rotation without dying.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from baton.discovery.base import Instance, Registry
from baton.discovery.nats_kv import NatsKvRegistry

if TYPE_CHECKING:
    from baton.kit.component import InstanceContext

log = logging.getLogger(__name__)

RegistryFactory = Callable[["InstanceContext"], Registry]
"""Builds the registry a component registers into, from the instance's context."""

_WILDCARDS = ("0.0.0.0", "::", "")


def nats_kv_factory(*, ttl: float = 5.0, bucket: str | None = None) -> RegistryFactory:
    """A factory for the default backend: a :class:`NatsKvRegistry` on the instance's NATS connection."""

    def build(ctx: InstanceContext) -> Registry:
        if ctx.nats is None:
            raise RuntimeError("nats_kv discovery needs the instance's NATS connection (set BATON_NATS_URL)")
        if bucket is None:
            return NatsKvRegistry(ctx.nats, ttl=ttl)
        return NatsKvRegistry(ctx.nats, ttl=ttl, bucket=bucket)

    return build


def advertised_host(bind_host: str) -> str:
    """The address others should dial: the bind host, or this machine's loopback when bound to a wildcard."""
    # A wildcard bind is reachable on loopback on one machine; on many machines set BATON_HOST explicitly.
    return "127.0.0.1" if bind_host in _WILDCARDS else bind_host


class RegistrationComponent:
    """Registers the running instance in discovery while it is ready (a :class:`~baton.kit.component.Component`)."""

    name = "discovery"

    def __init__(self, registry_factory: RegistryFactory | None = None, *, ttl: float = 5.0) -> None:
        """Args: registry_factory: builds the registry (default: NATS KV on the instance's connection);
        ttl: seconds a crashed instance stays listed (default backend only)."""
        self._factory = registry_factory or nats_kv_factory(ttl=ttl)
        self.registry: Registry | None = None
        self.instance: Instance | None = None
        self.registered = False

    async def start(self, ctx: InstanceContext) -> None:
        """Build the registry and register this instance."""
        self.registry = self._factory(ctx)
        settings = ctx.settings
        self.instance = Instance(
            service=ctx.service,
            id=ctx.instance,
            host=advertised_host(settings.host),
            port=settings.port,
            version=settings.version,
            metadata={"environment": settings.environment, "hostname": socket.gethostname()},
        )
        await self.mark_ready()

    async def check(self) -> None:
        """Ready once started (registration failures raise in ``start``/``mark_ready``)."""
        if self.registry is None:
            raise RuntimeError("discovery registration not started")

    async def mark_ready(self) -> None:
        """(Re-)register the instance: it joins the callers' rotation."""
        if self.registry is None or self.instance is None or self.registered:
            return
        await self.registry.register(self.instance)
        self.registered = True
        log.info("registered %s at %s", self.instance.id, self.instance.base_url)

    async def mark_unready(self) -> None:
        """Deregister the instance: callers stop picking it; the process keeps running."""
        if self.registry is None or self.instance is None or not self.registered:
            return
        self.registered = False
        await self.registry.deregister(self.instance)
        log.info("deregistered %s", self.instance.id)

    async def drain(self) -> None:
        """Leave rotation before in-flight requests drain."""
        await self.mark_unready()

    async def stop(self) -> None:
        """Stop heartbeats (idempotent); the key is already gone after ``drain``."""
        registry: Any = self.registry
        close = getattr(registry, "aclose", None)
        if close is not None:
            await close()
