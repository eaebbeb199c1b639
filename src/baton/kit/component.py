"""Components: the pieces that live as long as a service instance.

The event runtime (outbox relay, inbox consumers), the discovery registration, the live-config watcher and
the certificate renewer are components. The :class:`~baton.kit.service.Service` starts them in the order they
were added after the database and the NATS connection are up, and on shutdown walks them back:

1. readiness flips to "not ready" (``/readyz`` answers 503);
2. ``drain()`` on every component, in reverse order (deregister, stop fetching new messages);
3. in-flight HTTP requests finish (up to the grace period);
4. ``stop()`` on every component, in reverse order;
5. the NATS connection drains and the database engine is disposed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from baton.kit.settings import InstanceSettings


@dataclass
class InstanceContext:
    """What a component gets to work with: the instance's identity, settings and shared connections."""

    service: str
    instance: str
    settings: InstanceSettings
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    nats: NatsClient | None = None
    """The instance's one NATS connection (``None`` when the instance runs without a bus)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Components may publish things for each other here (e.g. ``extras['bus']``)."""


@runtime_checkable
class Component(Protocol):
    """A piece with the lifetime of a service instance."""

    name: str
    """Short name, used as the readiness check's name."""

    async def start(self, ctx: InstanceContext) -> None:
        """Start background work; return once the component is usable."""

    async def check(self) -> None:
        """Readiness check: return when healthy, raise (message = reason) when not."""

    async def drain(self) -> None:
        """Stop taking new work (deregister, stop fetching); in-flight work may still finish."""

    async def stop(self) -> None:
        """Finish and release everything; must be idempotent."""
