"""Announcing a change: a CloudEvent in the outbox and a delivery per subscribed webhook, in one transaction.

The webhook payload is exactly Strapi's — ``{event, createdAt, model, uid, entry}`` with header
``X-Strapi-Event`` — and it is frozen at the moment of the change: a delivery retried an hour later still
says what happened, not what the entry looks like now. Deliveries are rows (a webhook outbox), so a change
that commits is delivered even if the process dies right after; :mod:`apps.shop.content.delivery` sends them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.content.documents import Change
from apps.shop.content.models import deliveries, webhooks
from apps.shop.content.store import now_iso
from baton.content.events import ENTRY_EVENTS, MEDIA_EVENTS, event_data, event_type

__all__ = ["Announcer", "configure_webhooks", "enqueue_deliveries", "webhook_payload"]

Emit = Callable[..., Awaitable[Any]]
"""``service.emit(session, type=..., subject=..., data=...)``."""


def webhook_payload(event: str, *, model: str | None, uid: str | None, item: Mapping[str, Any]) -> dict[str, Any]:
    """Strapi's webhook body for ``event`` (``entry`` for entry events, ``media`` for media events)."""
    if event.startswith("media."):
        return {"event": event, "createdAt": now_iso(), "media": dict(item)}
    return {"event": event, "createdAt": now_iso(), "model": model, "uid": uid, "entry": dict(item)}


async def enqueue_deliveries(session: AsyncSession, payload: Mapping[str, Any], *, now: float | None = None) -> int:
    """Owe ``payload`` to every enabled webhook subscribed to its event; how many deliveries were queued."""
    event = str(payload["event"])
    rows = (await session.execute(select(webhooks.c.id, webhooks.c.events).where(webhooks.c.enabled.is_(True)))).all()
    targets = [row.id for row in rows if event in row.events]
    if not targets:
        return 0
    now = time.time() if now is None else now
    body = orjson.dumps(payload)
    await session.execute(
        insert(deliveries),
        [
            {
                "id": uuid.uuid4().hex,
                "webhook_id": webhook_id,
                "event": event,
                "payload": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for webhook_id in targets
        ],
    )
    return len(targets)


class Announcer:
    """Turns a :class:`~apps.shop.content.documents.Change` into its CloudEvent and its webhook deliveries."""

    def __init__(self, emit: Emit, *, prefix: str) -> None:
        self.emit = emit
        self.prefix = prefix

    async def __call__(self, session: AsyncSession, change: Change) -> None:
        """Announce ``change`` in ``session``'s transaction."""
        payload = webhook_payload(change.event, model=change.ctype.singular, uid=change.ctype.uid, item=change.entry)
        await self.publish(session, payload, subject=change.document_id)

    async def publish(self, session: AsyncSession, payload: Mapping[str, Any], *, subject: str) -> None:
        """Emit the CloudEvent of a webhook ``payload`` and queue its deliveries."""
        await self.emit(
            session,
            type=event_type(str(payload["event"]), prefix=self.prefix),
            subject=subject,
            data=event_data(payload),
        )
        await enqueue_deliveries(session, payload)


def _events(raw: Any, name: str) -> list[str]:
    known = ENTRY_EVENTS + MEDIA_EVENTS
    events = list(raw) if isinstance(raw, list) else list(known)
    unknown = [e for e in events if e not in known]
    if unknown:
        raise ValueError(f"webhook {name!r}: unknown events {unknown} (known: {list(known)})")
    return events


async def configure_webhooks(session: AsyncSession, declared: Sequence[Mapping[str, Any]]) -> None:
    """Create or update the webhooks declared in settings (matched by name; others are left alone).

    Raises:
        ValueError: a declaration lacks a name or url, or names an unknown event.
    """
    for item in declared:
        name, url = item.get("name"), item.get("url")
        if not isinstance(name, str) or not isinstance(url, str):
            raise ValueError(f'a webhook needs "name" and "url": {dict(item)!r}')
        values = {
            "url": url,
            "headers": dict(item.get("headers") or {}),
            "events": _events(item.get("events"), name),
            "enabled": bool(item.get("enabled", True)),
        }
        existing = (await session.execute(select(webhooks.c.id).where(webhooks.c.name == name))).scalar_one_or_none()
        if existing is None:
            await session.execute(insert(webhooks).values(name=name, **values))
        else:
            await session.execute(update(webhooks).where(webhooks.c.id == existing).values(**values))
