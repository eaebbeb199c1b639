"""The choreography tracker: events that belong to one business flow, read back as one timeline.

A choreographed flow has no orchestrator to keep its log; its events are its log. Subscribe a handler to the
events of interest and let it call :func:`record_event` in the handler's transaction (idempotent by event
id, so a redelivered event is recorded once)::

    @bus.handler("shop.order.>")
    async def track(event: CloudEvent, session: AsyncSession) -> None:
        await record_event(event, session)

:func:`flow_timeline` returns everything known under one correlation id in time order: the recorded events
and, when the same database hosts an orchestrator, the log entries of the sagas carrying that id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from baton.saga.tables import as_utc, flow_event_table, saga_log_table, saga_table, utcnow
from baton.sql import insert_new

#: How much of an event's data a flow event keeps: the timeline is for reading, not for replaying.
SUMMARY_FIELDS = 8
SUMMARY_TEXT = 80


class TrackedEvent(Protocol):
    """What the tracker reads from an event (``baton.events.CloudEvent`` has all of it)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def time(self) -> str | datetime | None: ...
    @property
    def correlationid(self) -> str | None: ...
    @property
    def data(self) -> Any: ...


@dataclass(frozen=True)
class FlowEvent:
    """One point of a flow's timeline."""

    correlation_id: str
    at: datetime
    type: str
    """Event type, or ``saga.<name>.<entry kind>`` for a saga log entry."""
    source: str
    """Producer of the event, or ``saga/<id>`` for a saga log entry."""
    id: str
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "correlation_id": self.correlation_id,
            "at": self.at.isoformat(),
            "type": self.type,
            "source": self.source,
            "summary": self.summary,
        }


async def record_event(event: TrackedEvent, session: AsyncSession) -> bool:
    """Record ``event`` under its correlation id in the caller's transaction; False when already recorded.

    Events without a correlation id belong to no flow and are not recorded (False).
    """
    if not event.correlationid:
        return False
    return await record_flow_event(
        session,
        event_id=event.id,
        correlation_id=event.correlationid,
        event_type=event.type,
        source=event.source,
        at=_parse_time(event.time),
        summary=summarize(event.data),
    )


async def record_flow_event(
    session: AsyncSession,
    *,
    event_id: str,
    correlation_id: str,
    event_type: str,
    source: str,
    at: datetime | None = None,
    summary: Mapping[str, Any] | None = None,
) -> bool:
    """Record one flow event (idempotent by ``event_id``); True when it was new."""
    values = {
        "event_id": event_id,
        "correlation_id": correlation_id,
        "type": event_type,
        "source": source,
        "at": at or utcnow(),
        "summary": dict(summary or {}),
        "recorded_at": utcnow(),
    }
    return await insert_new(session, flow_event_table, values, unique=["event_id"])


async def flow_timeline(session: AsyncSession, correlation_id: str, *, include_sagas: bool = True) -> list[FlowEvent]:
    """Everything recorded under ``correlation_id``, oldest first (saga log entries too, when asked)."""
    rows = await session.execute(
        sa.select(flow_event_table)
        .where(flow_event_table.c.correlation_id == correlation_id)
        .order_by(flow_event_table.c.at, flow_event_table.c.recorded_at)
    )
    timeline = [
        FlowEvent(
            correlation_id=correlation_id,
            at=as_utc(row.at),
            type=row.type,
            source=row.source,
            id=row.event_id,
            summary=dict(row.summary or {}),
        )
        for row in rows
    ]
    if include_sagas:
        entries = await session.execute(
            sa.select(saga_log_table, saga_table.c.name)
            .join(saga_table, saga_table.c.id == saga_log_table.c.saga_id)
            .where(saga_table.c.correlation_id == correlation_id)
            .order_by(saga_log_table.c.at, saga_log_table.c.seq)
        )
        for entry in entries:
            summary = {key: value for key, value in (("step", entry.step), ("error", entry.error)) if value}
            timeline.append(
                FlowEvent(
                    correlation_id=correlation_id,
                    at=as_utc(entry.at),
                    type=f"saga.{entry.name}.{entry.kind}",
                    source=f"saga/{entry.saga_id}",
                    id=f"{entry.saga_id}#{entry.seq}",
                    summary=summary,
                )
            )
    # Stable sort: events recorded at the same instant keep their recorded (or log) order.
    timeline.sort(key=lambda event: event.at)
    return timeline


def summarize(data: Any) -> dict[str, Any]:
    """A short, display-only digest of an event's data: a few top-level scalars, long text cut."""
    if not isinstance(data, Mapping):
        return {} if data is None else {"value": _short(data)}
    summary: dict[str, Any] = {}
    for key, value in list(data.items())[:SUMMARY_FIELDS]:
        summary[str(key)] = _short(value)
    return summary


def _short(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return f"{{{len(value)} fields}}"
    if isinstance(value, list | tuple):
        return f"[{len(value)} items]"
    text = str(value)
    return text if len(text) <= SUMMARY_TEXT else text[: SUMMARY_TEXT - 1] + "…"


def _parse_time(value: str | datetime | None) -> datetime:
    if value is None:
        return utcnow()
    if isinstance(value, datetime):
        return as_utc(value)
    # RFC 3339 allows a trailing "Z", which fromisoformat accepts since Python 3.11.
    return as_utc(datetime.fromisoformat(value))
