"""The event bus seam: a small protocol with a JetStream backend and an in-memory one for unit tests.

``EventBus.publish`` returns once every event is stored by the broker (or raises). ``EventBus.subscribe``
binds a durable pull consumer and returns a :class:`Subscription` whose ``fetch`` always has a timeout. Each
fetched :class:`Delivery` is settled exactly once: ``ack``, ``nak(delay)`` or ``dead_letter(...)``.

Backends: :class:`baton.events.jetstream.JetStreamBus` and :class:`baton.testing.memory_bus.MemoryBus`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from baton.events.envelope import CloudEvent


@dataclass(frozen=True, slots=True)
class ConsumerSpec:
    """A durable consumer on one stream."""

    stream: str
    """Stream name (``SHOP_CATALOG``)."""
    durable: str
    """Durable consumer name; replicas sharing it compete for messages."""
    subjects: tuple[str, ...]
    """Subject filters (NATS wildcards allowed)."""
    ack_wait: float = 30.0
    """Seconds an unacknowledged delivery stays with one replica before the broker redelivers it."""
    inactive_threshold: float | None = None
    """Seconds after which an idle consumer is deleted by the broker (broadcast consumers only)."""
    max_ack_pending: int = 1000
    """Deliveries in flight per consumer, across replicas (back-pressure)."""


class Delivery(Protocol):
    """One delivery of one message to a consumer."""

    @property
    def event(self) -> CloudEvent:
        """The decoded event.

        Raises:
            EventError: the payload is not a CloudEvent (the caller dead-letters it).
        """

    @property
    def subject(self) -> str:
        """The subject the message was published on."""

    @property
    def deliveries(self) -> int:
        """How many times this message has been delivered to this consumer, this time included (≥ 1)."""

    async def ack(self) -> None:
        """Done: never deliver again to this consumer."""

    async def nak(self, delay: float = 0.0) -> None:
        """Failed: deliver again after ``delay`` seconds."""

    async def dead_letter(self, *, consumer: str, error: str) -> None:
        """Move to the dead-letter stream with the error, then acknowledge.

        Raises:
            BrokerError: the dead letter was not stored (the message is left for redelivery).
        """


@runtime_checkable
class Subscription(Protocol):
    """A bound pull consumer."""

    async def fetch(self, batch: int, *, timeout: float) -> list[Delivery]:
        """Up to ``batch`` deliveries, waiting at most ``timeout`` seconds; ``[]`` when none came.

        Raises:
            BrokerUnavailable: not connected (the caller backs off and fetches again).
        """

    async def close(self) -> None:
        """Stop fetching; the durable consumer stays on the broker."""


@runtime_checkable
class EventBus(Protocol):
    """Publish events and consume them through durable consumers."""

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Store ``events`` on their streams, deduplicated by event id.

        Raises:
            BrokerError: some events were not acknowledged; ``context["acked"]`` holds the ids that were.
        """

    async def subscribe(self, spec: ConsumerSpec) -> Subscription:
        """Create or update the durable consumer ``spec`` (and its stream) and bind to it.

        Raises:
            BrokerError: the broker refused or is unreachable.
        """

    async def close(self) -> None:
        """Release the bus's resources (not the connection it was given)."""
