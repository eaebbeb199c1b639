"""Choreographed flows read back from the event path: who produced what under a correlation id, who handled it.

A choreographed flow (``order.confirmed`` → notification e-mails, analytics counts, loyalty points) has no
orchestrator keeping its log, but every step of it already leaves a row: the producer's outbox row (the event,
with its ``correlationid``, written with the state change; ``sent_at`` once the broker took it) and each
consumer's inbox row (``(consumer, event id, processed_at)``, written with the handler's effects). So the
timeline is gathered from those rows rather than recorded a second time:

* every instance running an :class:`~baton.events.runtime.EventRuntime` answers requests on
  :data:`FLOW_SUBJECT` (NATS request/reply, one answer per instance) from its own database;
* :func:`gather_flow` asks twice: which events carry the correlation id (outbox rows), then which consumers
  handled those events and when (inbox rows), and merges the answers (instances sharing a database answer the
  same rows; duplicates are dropped).

Nothing is written on the hot path for it. The horizon is the outbox's retention (``RelayPolicy.retention``, a
day by default): older flows are gone from the producers' outboxes. Answers carry ids, types, subjects,
sources and times — never the events' data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import ColumnElement, Text, cast, func, select
from sqlalchemy.exc import SQLAlchemyError

from baton.events.tables import inbox, outbox

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

__all__ = ["FLOW_SUBJECT", "FlowResponder", "gather_flow", "handled_events", "produced_events"]

log = logging.getLogger(__name__)

FLOW_SUBJECT = "baton.flows.query"
"""NATS subject every event runtime answers flow queries on."""

MAX_EVENTS = 500
"""Most events one answer lists (a flow is a handful; a runaway correlation id must not flood the reply)."""


def _needle(correlation_id: str) -> str:
    # orjson writes the attribute exactly so (no spaces); LIKE's escape and wildcards are escaped afterwards.
    literal = '"correlationid":' + orjson.dumps(correlation_id).decode()
    escaped = literal.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _payload_text(dialect: str) -> ColumnElement[str]:
    """The outbox payload (UTF-8 JSON bytes) as text, for ``LIKE``."""
    if dialect == "postgresql":
        return func.convert_from(outbox.c.payload, "UTF8")
    return cast(outbox.c.payload, Text)


async def produced_events(sessions: async_sessionmaker[AsyncSession], correlation_id: str) -> list[dict[str, Any]]:
    """The events of this database's outbox that carry ``correlation_id``, oldest first."""
    async with sessions() as session:
        payload = _payload_text(session.get_bind().dialect.name)
        statement = (
            select(
                outbox.c.id, outbox.c.type, outbox.c.subject, outbox.c.payload, outbox.c.created_at, outbox.c.sent_at
            )
            .where(payload.like(_needle(correlation_id), escape="\\"))
            .order_by(outbox.c.seq)
            .limit(MAX_EVENTS)
        )
        rows = (await session.execute(statement)).all()
    events = []
    for row in rows:
        envelope = orjson.loads(bytes(row.payload))
        if envelope.get("correlationid") != correlation_id:
            continue  # matched the pattern elsewhere (in the data, say)
        events.append(
            {
                "id": row.id,
                "type": row.type,
                "subject": row.subject,
                "source": envelope.get("source"),
                "time": envelope.get("time"),
                "created_at": row.created_at,
                "sent_at": row.sent_at,
            }
        )
    return events


async def handled_events(sessions: async_sessionmaker[AsyncSession], event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Which of ``event_ids`` this database's consumers handled, and when."""
    if not event_ids:
        return []
    statement = (
        select(inbox.c.consumer, inbox.c.event_id, inbox.c.processed_at)
        .where(inbox.c.event_id.in_(list(event_ids)[:MAX_EVENTS]))
        .order_by(inbox.c.processed_at)
    )
    async with sessions() as session:
        rows = (await session.execute(statement)).all()
    return [{"consumer": r.consumer, "event_id": r.event_id, "processed_at": r.processed_at} for r in rows]


class FlowResponder:
    """Answers flow queries on :data:`FLOW_SUBJECT` from one instance's database."""

    def __init__(self, nc: NatsClient, sessions: async_sessionmaker[AsyncSession], *, service: str, instance: str):
        self.nc = nc
        self.sessions = sessions
        self.service = service
        self.instance = instance
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        """Subscribe (every instance answers: no queue group)."""
        self._subscription = await self.nc.subscribe(FLOW_SUBJECT, cb=self._answer)

    async def stop(self) -> None:
        """Unsubscribe; idempotent."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer to one query: ``{"service", "instance", "produced", "handled"}``."""
        answer: dict[str, Any] = {"service": self.service, "instance": self.instance, "produced": [], "handled": []}
        correlation_id = request.get("correlation_id")
        ids = request.get("event_ids")
        try:
            if isinstance(correlation_id, str) and correlation_id:
                answer["produced"] = await produced_events(self.sessions, correlation_id)
            if isinstance(ids, list):
                answer["handled"] = await handled_events(self.sessions, [str(i) for i in ids])
        except SQLAlchemyError as exc:
            answer["error"] = f"database: {type(exc).__name__}"
        return answer

    async def _answer(self, msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            request = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(request, dict):
            return
        try:
            await msg.respond(orjson.dumps(await self.answer(request)))
        except Exception as exc:  # a broken connection: the asker times out on this instance
            log.debug("flow query answer failed: %s", exc)


async def _ask(nc: NatsClient, request: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
    """Publish ``request`` and collect every answer arriving within ``timeout`` seconds."""
    answers: list[dict[str, Any]] = []
    inbox_subject = nc.new_inbox()

    async def collect(msg: Msg) -> None:
        with contextlib.suppress(orjson.JSONDecodeError):
            body = orjson.loads(msg.data)
            if isinstance(body, dict):
                answers.append(body)

    subscription = await nc.subscribe(inbox_subject, cb=collect)
    try:
        await nc.publish(FLOW_SUBJECT, orjson.dumps(request), reply=inbox_subject)
        await nc.flush()
        await asyncio.sleep(timeout)  # scatter-gather: the number of answering instances is not known
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
    return answers


async def gather_flow(nc: NatsClient, correlation_id: str, *, timeout: float = 0.5) -> dict[str, Any]:
    """Ask every event runtime about ``correlation_id``: ``{"produced": [...], "handled": [...], "answered"}``.

    ``produced`` events carry the answering ``service``; ``handled`` rows carry the ``service`` and
    ``consumer`` that handled the event, and the event's ``type``. Both are sorted by time.
    """
    first = await _ask(nc, {"correlation_id": correlation_id}, timeout)
    produced: dict[str, dict[str, Any]] = {}
    answered: set[str] = set()
    for answer in first:
        answered.add(str(answer.get("instance")))
        for event in answer.get("produced", []):
            produced.setdefault(str(event["id"]), {**event, "service": answer.get("service")})
    handled: dict[tuple[str, str], dict[str, Any]] = {}
    if produced:
        second = await _ask(nc, {"event_ids": sorted(produced)}, timeout)
        for answer in second:
            answered.add(str(answer.get("instance")))
            for row in answer.get("handled", []):
                event = produced.get(str(row["event_id"]))
                key = (str(row["consumer"]), str(row["event_id"]))
                handled.setdefault(
                    key,
                    {**row, "service": answer.get("service"), "type": event["type"] if event else None},
                )
    return {
        "correlation_id": correlation_id,
        "produced": sorted(produced.values(), key=lambda e: float(e.get("created_at") or 0)),
        "handled": sorted(handled.values(), key=lambda h: float(h.get("processed_at") or 0)),
        "answered": sorted(answered),
    }
