"""Notification's event handlers: an order confirmed or cancelled becomes an owed e-mail (sent by the sender)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.notification.service import compose, record_notification, service
from apps.shop.notification.settings import NotificationSettings
from apps.shop.notification.templates import FileTemplates
from baton.events import CloudEvent

ORDER_CONFIRMED = "shop.order.order.confirmed.v1"
ORDER_CANCELLED = "shop.order.order.cancelled.v1"


@cache
def _templates(directory: str) -> FileTemplates:
    return FileTemplates(Path(directory))


def templates() -> FileTemplates:
    """The templates of the configured directory (read once per directory)."""
    settings: NotificationSettings = service.settings
    return _templates(str(settings.templates))


async def _owe(event: CloudEvent, session: AsyncSession, kind: str) -> None:
    data = event.data
    mail = compose(kind, data, templates())
    await record_notification(session, order_id=str(data["order_id"]), kind=kind, email=str(data["email"]), mail=mail)


@service.handler(ORDER_CONFIRMED)
async def on_order_confirmed(event: CloudEvent, session: AsyncSession) -> None:
    """Owe the customer a confirmation e-mail (once per order)."""
    await _owe(event, session, "confirmed")


@service.handler(ORDER_CANCELLED)
async def on_order_cancelled(event: CloudEvent, session: AsyncSession) -> None:
    """Owe the customer a cancellation e-mail (once per order)."""
    await _owe(event, session, "cancelled")
