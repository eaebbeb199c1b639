"""Where a route's traffic goes: live instance lists per service (from discovery) and a balancer per target.

The hot path never awaits discovery: one background watch per service keeps a snapshot current
(``Registry.watch``), and :meth:`Upstreams.pick` reads it synchronously. Fixed URLs (a backend's ``urls`` or
the gateway's ``services`` map) need no registry at all. Balancers come from :mod:`baton.balancing`
(round robin by default; ``least_outstanding`` or ``peak_ewma`` by name).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from baton.balancing import Balancer, balancer_from_name
from baton.discovery.base import Instance, Registry
from baton.errors import ConfigError
from baton.gateway.config import BackendConfig

log = logging.getLogger("baton.gateway")


def instance_from_url(service: str, url: str, index: int = 0) -> Instance:
    """An :class:`Instance` for a fixed ``http(s)://host:port`` URL.

    Raises:
        ConfigError: the URL has no host or an unsupported scheme.
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"upstream URL {url!r} must look like http://host:port or https://host:port")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Instance(service=service, id=f"{service}-{index}", host=parts.hostname, port=port, scheme=parts.scheme)


class Target:
    """One backend of a route as the hot path sees it: the current candidates and their balancer."""

    __slots__ = ("balancer", "candidates", "config", "key")

    def __init__(self, config: BackendConfig, balancer: Balancer) -> None:
        self.config = config
        self.key = (config.service or "", config.version)
        self.balancer = balancer
        self.candidates: Sequence[Instance] = ()


class Upstreams:
    """Live instance lists for every backend of the route table, shared across reloads."""

    def __init__(
        self,
        *,
        registry: Registry | None = None,
        static: Mapping[str, Iterable[str]] | None = None,
        balancer: str = "round_robin",
    ) -> None:
        self.registry = registry
        self.balancer_name = balancer
        self._static: dict[str, list[Instance]] = {}
        self._snapshots: dict[str, list[Instance]] = {}
        self._targets: dict[tuple[str, str | None], Target] = {}
        self._watches: dict[str, asyncio.Task[None]] = {}
        self.set_static(static or {})

    def set_static(self, static: Mapping[str, Iterable[str]]) -> None:
        """Replace the fixed instance map (``services:`` in the config)."""
        self._static = {
            name: [instance_from_url(name, url, i) for i, url in enumerate(urls, 1)] for name, urls in static.items()
        }
        for target in self._targets.values():
            self._refresh(target)

    def target(self, backend: BackendConfig) -> Target:
        """The (shared) target for ``backend``; starts watching its service when a registry is set."""
        if backend.urls:
            # Fixed URLs belong to the backend itself: a private target, no discovery.
            fixed = Target(backend, balancer_from_name(self.balancer_name))
            fixed.candidates = [instance_from_url(backend.service or "fixed", u, i) for i, u in enumerate(backend.urls)]
            return fixed
        key = (backend.service or "", backend.version)
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = Target(backend, balancer_from_name(self.balancer_name))
            self._refresh(target)
            self._watch(key[0])
        return target

    def pick(self, target: Target) -> Instance | None:
        """A balanced instance of ``target``, or ``None`` when it has none ready."""
        candidates = target.candidates
        if not candidates:
            return None
        return target.balancer.pick(candidates)

    def _refresh(self, target: Target) -> None:
        service, version = target.key
        instances = self._static.get(service) or self._snapshots.get(service, [])
        if version is not None:
            instances = [i for i in instances if i.version == version]
        target.candidates = list(instances)

    def _apply(self, service: str, instances: list[Instance]) -> None:
        self._snapshots[service] = instances
        for target in self._targets.values():
            if target.key[0] == service:
                self._refresh(target)

    def _watch(self, service: str) -> None:
        if self.registry is None or service in self._watches or service in self._static:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # built outside a loop (unit tests); :meth:`start` watches later
        self._watches[service] = loop.create_task(self._follow(service), name=f"gateway-watch-{service}")

    async def start(self) -> None:
        """Watch every known service (targets created before the loop ran) and wait for first snapshots."""
        for service, _ in list(self._targets):
            self._watch(service)
        if self.registry is not None:
            for service, _ in list(self._targets):
                if service not in self._static and service not in self._snapshots:
                    with contextlib.suppress(Exception):
                        self._apply(service, await self.registry.resolve(service))

    async def _follow(self, service: str) -> None:
        assert self.registry is not None
        while True:
            try:
                async for instances in self.registry.watch(service):
                    self._apply(service, list(instances))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A broken watch must not leave a stale list forever: log, back off, watch again.
                log.warning("discovery watch for %s failed: %s; retrying", service, exc)
                await asyncio.sleep(1.0)

    async def aclose(self) -> None:
        """Stop every discovery watch."""
        tasks = list(self._watches.values())
        self._watches.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
