"""The transactional outbox: events commit with the state change; a relay publishes them afterwards.

:func:`enqueue` only inserts a row in the caller's transaction, so producing an event never touches the broker
and keeps working while it is down. :class:`OutboxRelay` reads pending rows in order, publishes them as one
pipelined batch (``Nats-Msg-Id`` = event id) and marks the acknowledged ones sent in one statement. A relay that
dies between the publish and the mark republishes the batch on restart; the stream's duplicate window (and, past
it, the consumers' inbox) turns that into exactly one effect.

On PostgreSQL the batch is claimed with ``FOR UPDATE SKIP LOCKED`` inside the publishing transaction, so several
replicas can relay from one database. On SQLite (one relay per database) reading and marking are two short
transactions, because SQLite cannot hold a write lock across the publish without blocking the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from sqlalchemy import Select, bindparam, delete, func, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import SQLAlchemyError

from baton.errors import BrokerError, StoreError
from baton.events._tasks import raise_if_cancelling
from baton.events.envelope import CloudEvent
from baton.events.tables import outbox
from baton.events.tracing import created, send_spans

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from sqlalchemy.orm import Session

    from baton.events.bus import EventBus

log = logging.getLogger(__name__)

_PENDING = "baton_outbox_pending"
_HOOKED = "baton_outbox_hooked"
_relays: weakref.WeakSet[OutboxRelay] = weakref.WeakSet()
"""Relays of this process, woken when a transaction that enqueued events commits."""

# Built once (every checkout's event goes through both); UPDATE parameters named w_/v_, not like a column.
_ENQUEUE = insert(outbox)
_MARK_SENT = (
    update(outbox).where(outbox.c.seq.in_(bindparam("w_seqs", expanding=True))).values(sent_at=bindparam("v_sent_at"))
)

FaultHook = Callable[[str], None]
"""Called with a point name (``"after_publish"``) so chaos tests can crash the relay exactly there."""


def _row(event: CloudEvent, now: float) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "subject": event.nats_subject,
        "payload": event.to_json(),
        "created_at": now,
        "attempts": 0,
    }


def _after_commit(session: Session) -> None:
    if session.info.pop(_PENDING, False):
        for relay in list(_relays):
            relay.wake()


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _mark_pending(session: AsyncSession) -> None:
    sync = session.sync_session
    if not sync.info.get(_HOOKED):
        # Registered once per session: the relay learns about a commit at once instead of at its next poll.
        sa_event.listen(sync, "after_commit", _after_commit)
        sa_event.listen(sync, "after_rollback", _after_rollback)
        sync.info[_HOOKED] = True
    sync.info[_PENDING] = True


async def enqueue(session: AsyncSession, event: CloudEvent) -> None:
    """Add ``event`` to the outbox in the caller's transaction (committing is the caller's job).

    Raises:
        EventError: the event cannot be encoded.
    """
    (stamped,), spans = created([event])
    try:
        await session.execute(_ENQUEUE, _row(stamped, time.time()))
    finally:
        spans[0].end()
    _mark_pending(session)


async def enqueue_many(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
    """Add several events in one statement, in the caller's transaction."""
    if not events:
        return
    now = time.time()
    stamped, spans = created(events)
    try:
        await session.execute(_ENQUEUE, [_row(e, now) for e in stamped])
    finally:
        for span in spans:
            span.end()
    _mark_pending(session)


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """How the relay batches, polls, retries and cleans up."""

    batch_size: int = 500
    """Events published per pipelined batch."""
    poll_interval: float = 1.0
    """Seconds between polls when no commit woke the relay (events committed by another process)."""
    retry_initial: float = 0.1
    """Seconds before the first retry after a failed publish; doubles up to :attr:`retry_max`."""
    retry_max: float = 5.0
    retention: float = 24 * 3600.0
    """Seconds sent rows are kept (for inspection) before they are deleted."""
    purge_interval: float = 300.0
    """Seconds between deletions of old sent rows."""


def _end_send_spans(
    spans: Sequence[trace.Span], events: Sequence[CloudEvent], acked: set[str], failure: BaseException | None
) -> None:
    """End the relay's ``send`` spans; events the broker did not acknowledge are marked as errors."""
    for span, event in zip(spans, events, strict=True):
        if failure is not None and event.id not in acked:
            span.set_status(Status(StatusCode.ERROR, str(failure)[:200]))
            span.set_attribute("error.type", type(failure).__name__)
        span.end()


class OutboxRelay:
    """Publishes committed outbox rows to the bus and marks them sent."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        policy: RelayPolicy | None = None,
        fault: FaultHook | None = None,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.policy = policy or RelayPolicy()
        self.fault = fault
        self.published = 0
        """Events this relay got acknowledged (for metrics and tests)."""
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_purge = time.monotonic()
        self._dialect: str | None = None
        self._pending: Select[Any] | None = None
        _relays.add(self)

    def wake(self) -> None:
        """Flush now rather than at the next poll (safe from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wakeup.set()
        else:
            loop.call_soon_threadsafe(self._wakeup.set)

    async def pending(self) -> int:
        """How many events wait to be published."""
        async with self.sessions() as session:
            count = await session.scalar(select(func.count()).where(outbox.c.sent_at.is_(None)))
        return int(count or 0)

    async def flush_once(self) -> int:
        """Publish one batch of pending events; return how many were acknowledged.

        Raises:
            BrokerError: some events were not acknowledged (the acknowledged ones are marked sent).
            StoreError: the database failed.
        """
        try:
            if self._dialect is None:
                async with self.sessions() as session:
                    self._dialect = session.get_bind().dialect.name
            if self._dialect == "postgresql":
                sent, failure = await self._flush_locked()
            else:
                sent, failure = await self._flush_unlocked()
        except SQLAlchemyError as exc:
            raise StoreError(f"outbox relay: {exc}") from exc
        self.published += sent
        if failure is not None:
            raise failure
        return sent

    def _pending_batch(self) -> Select[Any]:
        if self._pending is None:  # built once: the relay runs it on every wake-up
            built: Select[Any] = (
                select(outbox.c.seq, outbox.c.payload)
                .where(outbox.c.sent_at.is_(None))
                .order_by(outbox.c.seq)
                .limit(self.policy.batch_size)
            )
            self._pending = built
        return self._pending

    async def _flush_locked(self) -> tuple[int, BrokerError | None]:
        async with self.sessions() as session, session.begin():
            rows = (await session.execute(self._pending_batch().with_for_update(skip_locked=True))).all()
            return await self._publish_and_mark(session, rows)

    async def _flush_unlocked(self) -> tuple[int, BrokerError | None]:
        async with self.sessions() as session:
            rows = (await session.execute(self._pending_batch())).all()
        if not rows:
            return 0, None
        async with self.sessions() as session, session.begin():
            return await self._publish_and_mark(session, rows)

    async def _publish_and_mark(self, session: AsyncSession, rows: Sequence[Any]) -> tuple[int, BrokerError | None]:
        if not rows:
            return 0, None
        events = [CloudEvent.from_json(bytes(row.payload)) for row in rows]
        failure: BrokerError | None = None
        spans = send_spans(events)
        acked: set[str] = set()
        try:
            await self.bus.publish(events)
            acked = {e.id for e in events}
        except BrokerError as exc:
            failure = exc
            acked = set(exc.context.get("acked", ()))
        finally:
            _end_send_spans(spans, events, acked, failure)
        if self.fault is not None:
            self.fault("after_publish")
        sent = [row.seq for row, e in zip(rows, events, strict=True) if e.id in acked]
        failed = [row.seq for row, e in zip(rows, events, strict=True) if e.id not in acked]
        if sent:
            await session.execute(_MARK_SENT, {"w_seqs": sent, "v_sent_at": time.time()})
        if failed and failure is not None:
            await session.execute(
                update(outbox)
                .where(outbox.c.seq.in_(failed))
                .values(attempts=outbox.c.attempts + 1, last_error=str(failure)[:1000])
            )
        return len(sent), failure

    async def purge(self) -> int:
        """Delete sent rows older than the retention; return how many."""
        cutoff = time.time() - self.policy.retention
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                delete(outbox).where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < cutoff)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def run(self) -> None:
        """Relay until cancelled: flush when woken or every ``poll_interval``, back off while the broker is down."""
        self._loop = asyncio.get_running_loop()
        policy = self.policy
        delay = policy.retry_initial
        while True:
            self._wakeup.clear()
            try:
                sent = await self.flush_once()
                delay = policy.retry_initial
                if time.monotonic() - self._last_purge > policy.purge_interval:
                    self._last_purge = time.monotonic()
                    await self.purge()
            except (BrokerError, StoreError) as exc:
                raise_if_cancelling(exc)
                log.warning("outbox relay: %s; retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, policy.retry_max)
                continue
            if sent >= policy.batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(policy.poll_interval):
                    await self._wakeup.wait()

    def close(self) -> None:
        """Stop receiving wake-ups."""
        _relays.discard(self)
        self._loop = None
