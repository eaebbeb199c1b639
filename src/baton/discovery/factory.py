"""Pick a discovery backend by name or URL (``discovery: nats_kv`` in config)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from baton.discovery.base import Instance, Registry
from baton.discovery.dns import DnsRegistry
from baton.discovery.nats_kv import DEFAULT_BUCKET, NatsKvRegistry
from baton.discovery.static import StaticRegistry
from baton.errors import ConfigError

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

BACKENDS = ("static", "nats_kv", "dns")
"""Names accepted by :func:`registry_from_name`."""


def registry_from_name(name: str, *, nats: NatsClient | None = None, **options: Any) -> Registry:
    """A registry of the named backend; ``options`` go to its constructor.

    Raises:
        ConfigError: unknown name, or ``nats_kv`` without a NATS connection.
    """
    if name == "static":
        return StaticRegistry(options.get("instances", ()))
    if name == "nats_kv":
        if nats is None:
            raise ConfigError("the nats_kv discovery backend needs a NATS connection (set BATON_NATS_URL)")
        return NatsKvRegistry(nats, **options)
    if name == "dns":
        return DnsRegistry(**options)
    raise ConfigError(f"unknown discovery backend {name!r}; choose one of {', '.join(BACKENDS)}")


def registry_from_url(url: str, *, nats: NatsClient | None = None) -> Registry:
    """A registry from a URL.

    Forms: ``static://?inventory=127.0.0.1:8001,127.0.0.1:8002&catalog=...``, ``nats-kv://<bucket>?ttl=5``,
    ``dns://<namespace>?port=80&domain=cluster.local&interval=5``.

    Raises:
        ConfigError: unknown scheme or malformed options.
    """
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    try:
        if parts.scheme == "static":
            return StaticRegistry(_static_instances(query))
        if parts.scheme in ("nats-kv", "nats_kv"):
            ttl = float(query.get("ttl", 5.0))
            return registry_from_name("nats_kv", nats=nats, bucket=parts.netloc or DEFAULT_BUCKET, ttl=ttl)
        if parts.scheme == "dns":
            return DnsRegistry(
                namespace=parts.netloc or "default",
                port=int(query.get("port", 80)),
                cluster_domain=query.get("domain", "cluster.local"),
                interval=float(query.get("interval", 5.0)),
            )
    except ValueError as exc:
        raise ConfigError(f"bad discovery URL {url!r}: {exc}") from exc
    raise ConfigError(f"unknown discovery URL scheme in {url!r}; use static://, nats-kv:// or dns://")


def _static_instances(query: dict[str, str]) -> list[Instance]:
    instances = []
    for service, addresses in query.items():
        for n, address in enumerate(filter(None, addresses.split(",")), start=1):
            host, _, port = address.rpartition(":")
            instances.append(Instance(service=service, id=f"{service}-{n}", host=host, port=int(port)))
    return instances
