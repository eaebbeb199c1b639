"""Discovery through DNS, for Kubernetes Services.

``<service>.<namespace>.svc.<cluster domain>`` resolves to the ready pods of a *headless* Service (or to
the one virtual IP of a ClusterIP Service, which then balances by itself). Kubernetes decides readiness from
the pods' ``/readyz`` probes, so ``register``/``deregister`` are no-ops here. DNS cannot push changes, so
``watch`` re-resolves every ``interval`` seconds and yields only when the answer changed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator, Awaitable, Callable

from baton.discovery.base import Instance

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(hostname, port) -> addresses``; injectable for tests."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver (all A/AAAA records, deduplicated, sorted)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


class DnsRegistry:
    """Instances from DNS names of the form ``name_template`` (Kubernetes Service names by default)."""

    def __init__(
        self,
        *,
        namespace: str = "default",
        cluster_domain: str = "cluster.local",
        port: int = 80,
        scheme: str = "http",
        interval: float = 5.0,
        name_template: str = "{service}.{namespace}.svc.{cluster_domain}",
        resolver: Resolver = system_resolver,
    ) -> None:
        self.namespace = namespace
        self.cluster_domain = cluster_domain
        self.port = port
        self.scheme = scheme
        self.interval = interval
        self.name_template = name_template
        self._resolver = resolver

    def hostname(self, service: str) -> str:
        """The DNS name looked up for ``service``."""
        return self.name_template.format(service=service, namespace=self.namespace, cluster_domain=self.cluster_domain)

    async def register(self, instance: Instance) -> None:
        """No-op: Kubernetes adds a pod to its Service when the readiness probe passes."""

    async def deregister(self, instance: Instance) -> None:
        """No-op: Kubernetes removes a pod from its Service when the readiness probe fails."""

    async def resolve(self, service: str) -> list[Instance]:
        """The addresses ``service``'s name resolves to right now (empty when the name does not resolve)."""
        try:
            addresses = await self._resolver(self.hostname(service), self.port)
        except OSError:
            return []
        return [
            Instance(
                service=service, id=f"{service}@{address}:{self.port}", host=address, port=self.port, scheme=self.scheme
            )
            for address in addresses
        ]

    async def watch(self, service: str) -> AsyncGenerator[list[Instance], None]:
        """The current list, then a new one whenever a periodic re-resolution differs."""
        last = await self.resolve(service)
        yield last
        while True:
            await asyncio.sleep(self.interval)
            current = await self.resolve(service)
            if current != last:
                last = current
                yield current
