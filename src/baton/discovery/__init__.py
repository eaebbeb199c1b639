"""Discovery: where the instances of a service are.

Backends (siblings, chosen by name or URL): :class:`StaticRegistry`, :class:`NatsKvRegistry` (TTL +
heartbeat + watch in a JetStream KV bucket), :class:`DnsRegistry` (Kubernetes Services). The kit puts an
instance into discovery with :class:`RegistrationComponent`.
"""

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
