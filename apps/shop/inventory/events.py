"""The events the inventory emits (through the outbox), as ``CONTRACTS.md`` fixes them."""

from __future__ import annotations

from typing import Any

RESERVATION_EXPIRED = "shop.inventory.reservation.expired.v1"


def expired_data(reservation_id: str, order_id: str | None) -> dict[str, Any]:
    """Payload of ``reservation.expired``."""
    return {"reservation_id": reservation_id, "order_id": order_id}
