"""The idempotent inbox: a handler's effects and the (consumer, event id) record commit together, then the ack.

A fetched batch is handled in ONE transaction, which keeps the per-event cost to the handler's own statements:

1. *fast path* — record the batch's events in one statement that skips the ones already recorded and returns
   the new ones (``INSERT .. ON CONFLICT DO NOTHING RETURNING`` on SQLite and PostgreSQL; a ``SELECT`` of the
   seen ids, then the ``INSERT``, elsewhere), run the new events' handlers, commit;
2. if a handler raised (or a replica recorded the same event concurrently), the transaction is rolled back and
   the rest of the batch is replayed on the *careful path*: a SAVEPOINT per event, so one failing handler rolls
   back only its own effects and record while the others commit. The event that failed on the fast path is not
   run again in this delivery.

Only after the commit are the handled events (and duplicates) acknowledged; failed ones are nak'ed with the
handler's backoff, or dead-lettered once they reached ``max_deliver`` deliveries. The handlers that ran before
a failure on the fast path run twice for one delivery: their database effects are rolled back in between, so
only effects outside the session must be idempotent — as they must anyway under at-least-once delivery.

At a checkout's rate every fetch brings one event, so what a batch costs is what an event costs, and with the
loop asleep between events every call runs on cold caches (``bench/events_single.py``: the same batch costs
about three times its back-to-back figure). The fast path therefore keeps its own work to two trips into
SQLAlchemy's greenlet — record (opening the transaction), then commit and close — around the handlers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from sqlalchemy import bindparam, delete, insert, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from baton.errors import BrokerError, EventError, StoreError
from baton.events import tracing as events_tracing
from baton.events.handlers import HandlerDefinition, HandlerFn, definition_of
from baton.events.tables import inbox
from baton.sql import conflict_insert
from baton.telemetry.context import attached

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from sqlalchemy.orm import Session

    from baton.events.bus import Delivery

log = logging.getLogger(__name__)

# Built once: every delivered batch runs them (a statement built per call costs about as much CPU as running it).
_SEEN = select(inbox.c.event_id).where(
    inbox.c.consumer == bindparam("consumer"), inbox.c.event_id.in_(bindparam("ids", expanding=True))
)
_RECORD = insert(inbox)
_RECORD_NEW: dict[str, Any] = {}


def _record_new(dialect: Dialect) -> Any:
    """``INSERT .. ON CONFLICT DO NOTHING RETURNING event_id`` for ``dialect``, or ``None`` where it has none.

    Built once per dialect (through :func:`baton.sql.conflict_insert`, which imports the PostgreSQL construct only
    on PostgreSQL).
    """
    name = dialect.name
    if name not in _RECORD_NEW:
        statement: Any = None
        if name == "postgresql" or (name == "sqlite" and dialect.insert_returning):
            statement = conflict_insert(name)(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)
        _RECORD_NEW[name] = statement
    return _RECORD_NEW[name]


def _commit_and_close(session: Session) -> None:
    session.commit()
    session.close()


@dataclass
class InboxStats:
    """Counters of one consumer's inbox (for metrics, readiness and tests)."""

    handled: int = 0
    duplicates: int = 0
    skipped: int = 0
    """Events on the consumer's subjects that no handler accepts (another version, say): acknowledged."""
    failed: int = 0
    """Failed deliveries (each is nak'ed or dead-lettered)."""
    dead_lettered: int = 0
    last_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Route:
    fn: HandlerFn
    definition: HandlerDefinition


@dataclass(slots=True)
class _Item:
    delivery: Delivery
    routes: list[_Route]
    event_id: str = ""
    error: BaseException | None = None


class Inbox:
    """Runs a consumer's handlers on fetched deliveries, exactly once per (consumer, event id)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        consumer: str,
        handlers: Sequence[Callable[..., Any]],
    ) -> None:
        """
        Args:
            sessions: the service database (the inbox table lives there).
            consumer: the durable consumer name, which scopes deduplication.
            handlers: ``@handler``-decorated functions this consumer dispatches to.
        """
        self.sessions = sessions
        self.consumer = consumer
        self.routes = [_Route(fn, definition_of(fn)) for fn in handlers]
        self.stats = InboxStats()

    async def process(self, deliveries: Sequence[Delivery]) -> None:
        """Handle a batch: effects + inbox records commit, then ack; failures are nak'ed or dead-lettered."""
        items: list[_Item] = []
        for delivery in deliveries:
            try:
                event = delivery.event
            except EventError as exc:
                # Undecodable: no retry can fix it, so it goes straight to the dead-letter stream.
                await self._dead_letter(delivery, exc)
                continue
            routes = [r for r in self.routes if r.definition.accepts(delivery.subject, event.type)]
            if not routes:
                self.stats.skipped += 1
                await self._settle_ack(delivery)
                continue
            items.append(_Item(delivery, routes, event.id))
        if not items:
            return
        try:
            handled, duplicates = await self._fast_path(items)
        except (_HandlerFailed, IntegrityError):
            try:
                handled, duplicates = await self._careful_path(items)
            except SQLAlchemyError as exc:
                await self._store_failed(items, exc)
                return
        except SQLAlchemyError as exc:
            await self._store_failed(items, exc)
            return
        self.stats.handled += len(handled)
        self.stats.duplicates += len(duplicates)
        for item in (*handled, *duplicates):
            await self._settle_ack(item.delivery)
        for item in items:
            if item.error is not None:
                await self._failed(item)

    async def _seen(self, session: AsyncSession, ids: list[str]) -> set[str]:
        rows = await session.execute(_SEEN, {"consumer": self.consumer, "ids": ids})
        return set(rows.scalars())

    def _split(self, items: list[_Item], seen: set[str]) -> tuple[list[_Item], list[_Item]]:
        fresh: list[_Item] = []
        duplicates: list[_Item] = []
        batch_ids: set[str] = set()
        for item in items:
            if item.event_id in seen or item.event_id in batch_ids:
                duplicates.append(item)
            else:
                batch_ids.add(item.event_id)
                fresh.append(item)
        return fresh, duplicates

    async def _fast_path(self, items: list[_Item]) -> tuple[list[_Item], list[_Item]]:
        session = self.sessions()
        try:
            fresh, duplicates = await session.run_sync(self._record, items)
            for item in fresh:
                try:
                    await self._run(item, session)
                except Exception as exc:
                    item.error = exc  # settled as failed; the careful path does not run it again
                    raise _HandlerFailed from exc
            await session.run_sync(_commit_and_close)
        except BaseException:
            await session.close()  # rolls the transaction back
            raise
        return fresh, duplicates

    def _record(self, session: Session, items: list[_Item]) -> tuple[list[_Item], list[_Item]]:
        """Record the batch's new events in the session's (new) transaction; split it into fresh and duplicates."""
        connection = session.connection()
        now = time.time()
        record_new = _record_new(connection.dialect)
        if record_new is None:
            rows = connection.execute(_SEEN, {"consumer": self.consumer, "ids": [i.event_id for i in items]})
            fresh, duplicates = self._split(items, set(rows.scalars()))
            if fresh:
                connection.execute(
                    _RECORD, [{"consumer": self.consumer, "event_id": i.event_id, "processed_at": now} for i in fresh]
                )
            return fresh, duplicates
        params = [{"consumer": self.consumer, "event_id": i.event_id, "processed_at": now} for i in items]
        recorded = set(connection.execute(record_new, params if len(params) > 1 else params[0]).scalars())
        fresh = []
        duplicates = []
        for item in items:
            if item.event_id in recorded:
                recorded.discard(item.event_id)  # a second copy in the same batch is a duplicate
                fresh.append(item)
            else:
                duplicates.append(item)
        return fresh, duplicates

    async def _careful_path(self, items: list[_Item]) -> tuple[list[_Item], list[_Item]]:
        handled: list[_Item] = []
        async with self.sessions() as session, session.begin():
            if session.get_bind().dialect.name == "sqlite":
                # pysqlite/aiosqlite only open a transaction before DML, and a SAVEPOINT opened outside one
                # commits on RELEASE; a no-op DML makes the driver issue BEGIN so savepoints nest inside it.
                await session.execute(text("DELETE FROM baton_inbox WHERE 1 = 0"))
            fresh, duplicates = self._split(items, await self._seen(session, [i.event_id for i in items]))
            for item in fresh:
                if item.error is not None:
                    continue
                try:
                    async with session.begin_nested():
                        try:
                            await session.execute(
                                insert(inbox).values(
                                    consumer=self.consumer, event_id=item.event_id, processed_at=time.time()
                                )
                            )
                        except IntegrityError as exc:
                            raise _Duplicate from exc
                        await self._run(item, session)
                except _Duplicate:
                    duplicates.append(item)  # a replica handled it concurrently and committed first
                except Exception as exc:
                    item.error = exc  # its savepoint rolled back its effects and its inbox record
                else:
                    handled.append(item)
        return handled, duplicates

    async def _run(self, item: _Item, session: AsyncSession) -> None:
        event = item.delivery.event
        deliveries = item.delivery.deliveries
        with (
            attached(event.context_carrier()),
            events_tracing.tracer().start_as_current_span(
                f"process {item.delivery.subject}",
                kind=trace.SpanKind.CONSUMER,
                attributes=events_tracing.consumer_attributes(event, item.delivery.subject, self.consumer, deliveries),
            ) as span,
        ):
            try:
                for route in item.routes:
                    await route.fn(event, session)
            except Exception:
                # This delivery was the last one allowed: the event goes to the dead-letter stream next.
                if deliveries >= min(r.definition.max_deliver for r in item.routes):
                    span.set_attribute("baton.messaging.dead_lettered", True)
                raise

    async def _failed(self, item: _Item) -> None:
        assert item.error is not None
        self.stats.failed += 1
        error = f"{type(item.error).__name__}: {item.error}"
        self.stats.last_errors = [*self.stats.last_errors[-9:], error]
        definition = item.routes[0].definition
        max_deliver = min(r.definition.max_deliver for r in item.routes)
        deliveries = item.delivery.deliveries
        log.warning(
            "handler failed for %s (%s), delivery %d/%d: %s",
            item.event_id,
            item.delivery.subject,
            deliveries,
            max_deliver,
            error,
            exc_info=item.error,
        )
        if deliveries >= max_deliver:
            await self._dead_letter(item.delivery, item.error)
            return
        try:
            await item.delivery.nak(definition.delay_after(deliveries))
        except BrokerError as exc:
            log.warning("nak failed (the broker redelivers after ack_wait): %s", exc)

    async def _dead_letter(self, delivery: Delivery, error: BaseException) -> None:
        try:
            await delivery.dead_letter(consumer=self.consumer, error=f"{type(error).__name__}: {error}")
        except BrokerError as exc:
            log.error("dead-lettering failed, the message stays for redelivery: %s", exc)
            return
        self.stats.dead_lettered += 1

    async def _settle_ack(self, delivery: Delivery) -> None:
        try:
            await delivery.ack()
        except BrokerError as exc:
            # The effects are committed; the redelivery this causes is absorbed by the inbox.
            log.warning("ack failed: %s", exc)

    async def _store_failed(self, items: list[_Item], exc: SQLAlchemyError) -> None:
        error = StoreError(f"inbox transaction failed: {exc}")
        log.warning("%s; %d events will be redelivered", error, len(items))
        for item in items:
            item.error = error
            await self._failed(item)


class _HandlerFailed(Exception):
    """A handler raised on the fast path: replay the batch with a savepoint per event."""


class _Duplicate(Exception):
    """The inbox already holds the event (recorded by a concurrent replica)."""


async def purge_inbox(sessions: async_sessionmaker[AsyncSession], *, older_than: float) -> int:
    """Delete inbox records older than ``older_than`` seconds; return how many.

    Keep records longer than the streams keep events, or a very late redelivery could be handled twice.
    """
    cutoff = time.time() - older_than
    try:
        async with sessions() as session, session.begin():
            result = await session.execute(delete(inbox).where(inbox.c.processed_at < cutoff))
    except SQLAlchemyError as exc:
        raise StoreError(f"purging the inbox: {exc}") from exc
    return int(getattr(result, "rowcount", 0) or 0)
