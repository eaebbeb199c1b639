"""Notification's event handlers: an order confirmed or cancelled becomes an owed e-mail (sent by the sender).

The e-mail is composed from the content hub's template when it has one (:mod:`apps.shop.notification.hub_templates`),
else from the plain file.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.notification.service import compose, hub_templates, record_notification, service
from apps.shop.notification.settings import NotificationSettings
from apps.shop.notification.templates import FileTemplates, Rendered
from baton.errors import ConfigError
from baton.events import CloudEvent
from baton.telemetry.logging import get_logger

_log = get_logger("shop.notification")

ORDER_CONFIRMED = "shop.order.order.confirmed.v1"
ORDER_CANCELLED = "shop.order.order.cancelled.v1"


@cache
def _templates(directory: str) -> FileTemplates:
    return FileTemplates(Path(directory))


def templates() -> FileTemplates:
    """The templates of the configured directory (read once per directory)."""
    settings: NotificationSettings = service.settings
    return _templates(str(settings.templates))


async def compose_mail(kind: str, data: Mapping[str, Any]) -> Rendered:
    """The e-mail for an order event: from the content hub's published template, else from the file.

    A hub template that does not render (a placeholder the service does not know) falls back to the file too:
    an editor's typo must not hold back a customer's e-mail.

    Raises:
        ConfigError: the file template is missing or malformed as well.
    """
    name = f"order_{kind}"
    snapshot = await hub_templates.snapshot([name])
    if snapshot is not None:
        try:
            return compose(kind, data, snapshot)
        except ConfigError as exc:
            _log.warning("content hub template does not render; using the file", template=name, reason=str(exc))
    return compose(kind, data, templates())


async def _owe(event: CloudEvent, session: AsyncSession, kind: str) -> None:
    data = event.data
    mail = await compose_mail(kind, data)
    await record_notification(session, order_id=str(data["order_id"]), kind=kind, email=str(data["email"]), mail=mail)


@service.handler(ORDER_CONFIRMED)
async def on_order_confirmed(event: CloudEvent, session: AsyncSession) -> None:
    """Owe the customer a confirmation e-mail (once per order)."""
    await _owe(event, session, "confirmed")


@service.handler(ORDER_CANCELLED)
async def on_order_cancelled(event: CloudEvent, session: AsyncSession) -> None:
    """Owe the customer a cancellation e-mail (once per order)."""
    await _owe(event, session, "cancelled")
