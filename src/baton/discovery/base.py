"""Discovery: where the instances of a service are.

A :class:`Registry` answers "which ready instances does service X have?" and keeps answering as instances come
and go. Backends are siblings of this module (``static``, ``nats_kv``, ``dns``), chosen by name in config.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Instance:
    """One reachable instance of a service."""

    service: str
    id: str
    """Instance id, unique within the system, e.g. ``catalog-1``."""
    host: str
    port: int
    scheme: str = "http"
    version: str = "dev"
    metadata: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def base_url(self) -> str:
        """``scheme://host:port``."""
        return f"{self.scheme}://{self.host}:{self.port}"


@runtime_checkable
class Registry(Protocol):
    """Registers instances and answers lookups, live."""

    async def register(self, instance: Instance) -> None:
        """Announce ``instance`` as ready (backends with TTLs keep it alive until :meth:`deregister`)."""

    async def deregister(self, instance: Instance) -> None:
        """Take ``instance`` out of rotation."""

    async def resolve(self, service: str) -> list[Instance]:
        """The ready instances of ``service`` right now (possibly empty)."""

    def watch(self, service: str) -> AsyncIterator[list[Instance]]:
        """Yield the full instance list of ``service`` each time it changes (first the current list)."""
