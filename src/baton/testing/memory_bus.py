"""An in-memory :class:`~baton.events.bus.EventBus` for unit tests, with JetStream's semantics where they matter.

It keeps one ordered log per stream, deduplicates publishes by event id within a window, shares a cursor
between subscriptions of one durable consumer (competing consumers), redelivers on ``nak(delay)`` and after
``ack_wait``, counts deliveries, and records dead letters in :attr:`MemoryBus.dead_letters`. Set
``bus.available = False`` to simulate a broker outage: publish and fetch then raise ``BrokerUnavailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from baton.errors import BrokerUnavailable
from baton.events import naming
from baton.events.bus import ConsumerSpec, Delivery
from baton.events.envelope import CloudEvent


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message in a stream log."""

    seq: int
    subject: str
    payload: bytes
    event_id: str


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """A dead letter as the memory bus keeps it."""

    consumer: str
    error: str
    deliveries: int
    message: StoredMessage


@dataclass
class _ConsumerState:
    spec: ConsumerSpec
    cursor: int = 0
    deliveries: dict[int, int] = field(default_factory=dict)
    """Delivery count per stream sequence."""
    unacked: dict[int, float] = field(default_factory=dict)
    """Stream sequence -> loop time it becomes deliverable again (nak delay or ack_wait expiry)."""


class MemoryBus:
    """In-memory event bus (see module docstring)."""

    def __init__(self, *, duplicate_window: float = 120.0) -> None:
        self.duplicate_window = duplicate_window
        self.available = True
        """``False`` simulates a broker outage."""
        self.streams: dict[str, list[StoredMessage]] = {}
        self.dead_letters: list[DeadLetterRecord] = []
        self._consumers: dict[tuple[str, str], _ConsumerState] = {}
        self._seen: dict[str, float] = {}
        self._changed = asyncio.Event()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _check(self) -> None:
        if not self.available:
            raise BrokerUnavailable("memory bus: simulated outage")

    def published(self, stream: str | None = None) -> list[CloudEvent]:
        """Events stored (on one stream, or all), in order."""
        streams = [stream] if stream else list(self.streams)
        return [CloudEvent.from_json(m.payload) for s in streams for m in self.streams.get(s, [])]

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Store events; an id seen within the duplicate window is dropped (still acknowledged)."""
        self._check()
        now = self._now()
        for event in events:
            first_seen = self._seen.get(event.id)
            if first_seen is not None and now - first_seen < self.duplicate_window:
                continue
            self._seen[event.id] = now
            self.publish_raw(event.stream, event.nats_subject, event.to_json(), event.id)

    def publish_raw(self, stream: str, subject: str, payload: bytes, event_id: str = "") -> StoredMessage:
        """Append a message as is (no dedup) — e.g. to simulate duplicates beyond the window."""
        log = self.streams.setdefault(stream, [])
        message = StoredMessage(len(log) + 1, subject, payload, event_id)
        log.append(message)
        self._changed.set()
        return message

    async def subscribe(self, spec: ConsumerSpec) -> MemorySubscription:
        """Bind to (and create if needed) the durable consumer ``spec``."""
        self._check()
        state = self._consumers.setdefault((spec.stream, spec.durable), _ConsumerState(spec))
        return MemorySubscription(self, state)

    async def close(self) -> None:
        """Nothing to release."""

    def _take(self, state: _ConsumerState, batch: int) -> list[StoredMessage]:
        now = self._now()
        log = self.streams.get(state.spec.stream, [])
        taken: list[StoredMessage] = []
        for seq, due in sorted(state.unacked.items()):
            if len(taken) >= batch:
                break
            if due <= now:
                taken.append(log[seq - 1])
        while len(taken) < batch and state.cursor < len(log):
            message = log[state.cursor]
            state.cursor += 1
            if any(naming.subject_matches(f, message.subject) for f in state.spec.subjects):
                taken.append(message)
        for message in taken:
            state.deliveries[message.seq] = state.deliveries.get(message.seq, 0) + 1
            state.unacked[message.seq] = now + state.spec.ack_wait
        return taken


class MemorySubscription:
    """A subscription to a durable consumer of the memory bus."""

    def __init__(self, bus: MemoryBus, state: _ConsumerState) -> None:
        self.bus = bus
        self.state = state

    async def fetch(self, batch: int, *, timeout: float) -> list[Delivery]:
        """Up to ``batch`` deliveries within ``timeout`` seconds."""
        deadline = self.bus._now() + timeout
        while True:
            self.bus._check()
            messages = self.bus._take(self.state, batch)
            if messages:
                return [MemoryDelivery(self, m) for m in messages]
            remaining = deadline - self.bus._now()
            if remaining <= 0:
                return []
            self.bus._changed.clear()
            try:
                # Wake on a publish, or poll shortly for nak delays that expire meanwhile.
                async with asyncio.timeout(min(remaining, 0.01)):
                    await self.bus._changed.wait()
            except TimeoutError:
                pass

    async def close(self) -> None:
        """Nothing to release."""


class MemoryDelivery:
    """One delivery from the memory bus."""

    def __init__(self, subscription: MemorySubscription, message: StoredMessage) -> None:
        self._subscription = subscription
        self._message = message
        self._event: CloudEvent | None = None
        self.settled: str | None = None
        """``"ack"``, ``"nak"`` or ``"dead_letter"`` once settled."""

    @property
    def event(self) -> CloudEvent:
        """The decoded event."""
        if self._event is None:
            self._event = CloudEvent.from_json(self._message.payload)
        return self._event

    @property
    def subject(self) -> str:
        """The subject it was published on."""
        return self._message.subject

    @property
    def deliveries(self) -> int:
        """Deliveries of this message to this consumer so far."""
        return self._subscription.state.deliveries.get(self._message.seq, 1)

    async def ack(self) -> None:
        """Never deliver again."""
        self._subscription.state.unacked.pop(self._message.seq, None)
        self.settled = "ack"

    async def nak(self, delay: float = 0.0) -> None:
        """Redeliver after ``delay`` seconds."""
        state = self._subscription.state
        if self._message.seq in state.unacked:
            state.unacked[self._message.seq] = self._subscription.bus._now() + delay
        self.settled = "nak"

    async def dead_letter(self, *, consumer: str, error: str) -> None:
        """Record a dead letter and acknowledge."""
        self._subscription.bus._check()
        self._subscription.bus.dead_letters.append(DeadLetterRecord(consumer, error, self.deliveries, self._message))
        await self.ack()
        self.settled = "dead_letter"
