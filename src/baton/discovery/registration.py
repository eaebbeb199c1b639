"""The kit component that puts a service instance into discovery while it is ready.

Lifecycle (see :mod:`baton.kit.component`): ``start`` prepares the registry and the instance's record but
announces nothing — the HTTP server is not even listening yet. The kit's readiness monitor
(:mod:`baton.kit.monitor`) calls :meth:`mark_ready` once the server listens and the readiness checks pass,
:meth:`mark_unready` when a check fails (the instance leaves rotation without dying) and :meth:`mark_ready`
again on recovery; the backend keeps a registered instance alive (NATS KV heartbeats). ``drain`` deregisters
first thing on shutdown so callers stop picking the instance while in-flight requests finish; ``stop``
releases the heartbeats. The kit adds this component last when the instance has a bus.
"""

from __future__ import annotations

import logging
import os
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
    """Registers the running instance in discovery while it is ready (a :class:`~baton.kit.component.Component`
    and a :class:`~baton.kit.monitor.ReadinessListener`)."""

    name = "discovery"

    def __init__(self, registry_factory: RegistryFactory | None = None, *, ttl: float = 5.0) -> None:
        """Args: registry_factory: builds the registry (default: NATS KV on the instance's connection);
        ttl: seconds a crashed instance stays listed (default backend only)."""
        self._factory = registry_factory or nats_kv_factory(ttl=ttl)
        self.registry: Registry | None = None
        self.instance: Instance | None = None
        self.registered = False
        self._draining = False
        self._error: str | None = None

    async def start(self, ctx: InstanceContext) -> None:
        """Build the registry and this instance's record; registration waits for :meth:`mark_ready`."""
        self.registry = self._factory(ctx)
        settings = ctx.settings
        self.instance = Instance(
            service=ctx.service,
            id=ctx.instance,
            host=advertised_host(settings.host),
            port=settings.port,
            # The kit serves HTTPS (mutual TLS) whenever the control plane gave the instance credentials.
            scheme="https" if os.environ.get("BATON_TLS_DIR") else "http",
            version=settings.version,
            metadata={"environment": settings.environment, "hostname": socket.gethostname()},
        )
        self._draining = False

    async def check(self) -> None:
        """Ready once started, unless the last registration attempt failed (the reason says why)."""
        if self.registry is None:
            raise RuntimeError("discovery registration not started")
        if self._error is not None:
            raise RuntimeError(f"cannot register in discovery: {self._error}")

    async def mark_ready(self) -> None:
        """(Re-)register the instance: it joins the callers' rotation (no-op once draining).

        Raises:
            Exception: the registry's own error when it cannot register (the monitor retries).
        """
        if self.registry is None or self.instance is None or self.registered or self._draining:
            return
        try:
            await self.registry.register(self.instance)
        except Exception as exc:
            self._error = str(exc) or type(exc).__name__
            raise
        self._error = None
        self.registered = True
        log.info("registered %s at %s", self.instance.id, self.instance.base_url)

    async def mark_unready(self) -> None:
        """Deregister the instance: callers stop picking it; the process keeps running."""
        if self.registry is None or self.instance is None or not self.registered:
            return
        await self.registry.deregister(self.instance)
        self.registered = False
        log.info("deregistered %s", self.instance.id)

    async def drain(self) -> None:
        """Leave rotation before in-flight requests drain, for good (a late :meth:`mark_ready` is ignored)."""
        self._draining = True
        await self.mark_unready()

    async def stop(self) -> None:
        """Stop heartbeats (idempotent); the key is already gone after ``drain``."""
        self._draining = True
        registry: Any = self.registry
        close = getattr(registry, "aclose", None)
        if close is not None:
            await close()
