"""Discovery: where the instances of a service are.

Backends (siblings, chosen by name or URL): :class:`StaticRegistry`, :class:`NatsKvRegistry` (TTL +
heartbeat + watch in a JetStream KV bucket), :class:`DnsRegistry` (Kubernetes Services). The kit puts an
instance into discovery with :class:`RegistrationComponent`.

The names below are imported on first use (PEP 562): a service that only registers in NATS KV never loads
the DNS backend (and aiohttp with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from baton._lazy import lazy_exports

if TYPE_CHECKING:
    from baton.discovery.base import Instance, Registry
    from baton.discovery.dns import DnsRegistry
    from baton.discovery.factory import BACKENDS, registry_from_name, registry_from_url
    from baton.discovery.nats_kv import NatsKvRegistry
    from baton.discovery.registration import RegistrationComponent, nats_kv_factory
    from baton.discovery.static import StaticRegistry

__all__ = [
    "BACKENDS",
    "DnsRegistry",
    "Instance",
    "NatsKvRegistry",
    "RegistrationComponent",
    "Registry",
    "StaticRegistry",
    "nats_kv_factory",
    "registry_from_name",
    "registry_from_url",
]

_HOMES = {
    "Instance": "base",
    "Registry": "base",
    "DnsRegistry": "dns",
    "BACKENDS": "factory",
    "registry_from_name": "factory",
    "registry_from_url": "factory",
    "NatsKvRegistry": "nats_kv",
    "RegistrationComponent": "registration",
    "nats_kv_factory": "registration",
    "StaticRegistry": "static",
}


__getattr__, __dir__ = lazy_exports(__name__, __all__, _HOMES)
