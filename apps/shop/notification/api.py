"""The notification service's HTTP API: ``GET /v1/notifications?order_id=`` (what was owed and sent)."""

from __future__ import annotations

from fastapi import Depends, Query
from pydantic import BaseModel

from apps.shop.common.access import require_staff
from apps.shop.common.users import install
from apps.shop.notification.service import Notification, list_notifications, service
from baton.kit import SessionDep

users = install(service)
"""The notification log holds every customer's e-mail address: staff only."""


class NotificationOut(BaseModel):
    """An e-mail the service owes or sent."""

    id: str
    order_id: str
    kind: str
    email: str
    subject: str
    status: str
    attempts: int
    message_id: str
    created_at: float
    sent_at: float | None
    last_error: str | None

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        """Encode a domain notification."""
        return cls(
            id=n.id,
            order_id=n.order_id,
            kind=n.kind,
            email=n.email,
            subject=n.subject,
            status=n.status,
            attempts=n.attempts,
            message_id=n.message_id,
            created_at=n.created_at,
            sent_at=n.sent_at,
            last_error=n.last_error,
        )


class NotificationList(BaseModel):
    """Notifications, oldest first."""

    items: list[NotificationOut]


@service.get("/v1/notifications", dependencies=[Depends(require_staff)])
async def get_notifications(
    session: SessionDep,
    order_id: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=1000),
) -> NotificationList:
    """List notifications, optionally of one order."""
    found = await list_notifications(session, order_id=order_id, limit=limit)
    return NotificationList(items=[NotificationOut.of(n) for n in found])
