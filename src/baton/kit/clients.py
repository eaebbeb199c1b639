"""Clients to other services, built the same way for every service of a system.

A service declares the peers it calls; the component builds one :class:`~baton.client.ServiceClient` per
peer when the instance starts, resolved through the instance's discovery and bound to the system's
resilience policies::

    clients = ServiceClients()
    service.add_component(clients)
    ...
    reservation = await clients["inventory"].post_json("/v1/reservations", json=...)

Where peers are found, first match wins:

1. ``BATON_SERVICE_URLS`` — JSON ``{"inventory": "http://127.0.0.1:7801", ...}``: fixed addresses (running one
   service by hand, contract tests);
2. the instance's NATS connection — the ``nats_kv`` registry every kit instance registers in.

Under the control plane (``BATON_TLS_DIR``) every client speaks mutual TLS — the peer must prove the target's
SPIFFE ID — and sends a service token for it (``X-Baton-Service-Token``); see :mod:`baton.security.wiring`.

Policies come from ``BATON_POLICIES`` (the manifest's ``policies:`` section as JSON; the control plane sets it),
else every layer runs with its documented defaults. The clients count into the service's own metrics registry,
so ``baton_client_*`` appear in the instance's ``/metrics`` next to its RED metrics.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from baton.client.service_client import ServiceClient
from baton.discovery.base import Instance, Registry
from baton.discovery.static import StaticRegistry
from baton.errors import ConfigError
from baton.kit.component import InstanceContext
from baton.kit.runtime import metrics_registry
from baton.resilience.config import PolicySet, policies_from_mapping

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["ServiceClients", "policies_from_env", "static_registry_from_env"]


def static_registry_from_env(environ: Mapping[str, str]) -> StaticRegistry | None:
    """A registry of the fixed addresses in ``BATON_SERVICE_URLS``, or ``None`` when unset.

    Raises:
        ConfigError: the variable is not a JSON object of ``name -> http(s)://host:port``.
    """
    raw = environ.get("BATON_SERVICE_URLS")
    if not raw:
        return None
    try:
        urls = json.loads(raw)
        if not isinstance(urls, dict):
            raise TypeError("not an object")
        instances = []
        for name, url in urls.items():
            scheme, _, rest = str(url).partition("://")
            host, _, port = rest.rstrip("/").rpartition(":")
            instances.append(Instance(service=name, id=f"{name}-static", host=host, port=int(port), scheme=scheme))
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f'BATON_SERVICE_URLS must be a JSON object like {{"inventory": "http://127.0.0.1:7801"}}: {exc}'
        ) from exc
    return StaticRegistry(instances)


def policies_from_env(environ: Mapping[str, str]) -> PolicySet | None:
    """The resilience policies in ``BATON_POLICIES`` (JSON), or ``None`` when unset.

    Raises:
        ConfigError: the JSON is malformed or names an invalid policy field.
    """
    raw = environ.get("BATON_POLICIES")
    if not raw:
        return None
    try:
        mapping = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"BATON_POLICIES is not valid JSON: {exc}") from exc
    return policies_from_mapping(mapping)


class ServiceClients:
    """A :class:`~baton.kit.component.Component` holding one resilient client per peer service."""

    name = "clients"

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._registry: Registry | None = None
        self._policies: PolicySet | None = None
        self._clients: dict[str, ServiceClient] = {}
        self._metrics: CollectorRegistry | None = None

    async def start(self, ctx: InstanceContext) -> None:
        """Choose the registry (fixed URLs, else NATS KV) and read the policies."""
        environ = self._environ if self._environ is not None else os.environ
        self._policies = policies_from_env(environ)
        registry: Registry | None = static_registry_from_env(environ)
        if registry is None and ctx.nats is not None:
            from baton.discovery.nats_kv import NatsKvRegistry

            registry = NatsKvRegistry(ctx.nats)
        if registry is None:
            raise ConfigError("no way to find peers: set BATON_NATS_URL (discovery) or BATON_SERVICE_URLS")
        self._registry = registry
        self._metrics = metrics_registry(ctx)

    def __getitem__(self, target: str) -> ServiceClient:
        """The client for ``target`` (created on first use, then shared by every caller in the instance)."""
        client = self._clients.get(target)
        if client is None:
            if self._registry is None:
                raise ConfigError("ServiceClients used before the instance started")
            client = ServiceClient(
                target, registry=self._registry, policies=self._policies, metrics_registry=self._metrics
            )
            self._clients[target] = client
        return client

    async def check(self) -> None:
        """Always ready: a missing peer is the peer's readiness problem, reported by the calls themselves."""

    async def drain(self) -> None:
        """Nothing to drain: in-flight calls belong to in-flight requests, which the server lets finish."""

    async def stop(self) -> None:
        """Close every client's connection pool."""
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()
