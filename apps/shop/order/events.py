"""The events order consumes (thin adapters over :mod:`.prices` and :mod:`.service`); it emits
``order.confirmed`` / ``order.cancelled`` from :func:`~apps.shop.order.service.confirm_order` and
:func:`~apps.shop.order.service.cancel_order`.

Each handler runs in the inbox transaction: its writes commit with the (consumer, event id) record, so a
redelivered event is a no-op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apps.shop.order.prices import Price, apply_price
from apps.shop.order.service import note_reservation_expired, service

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from baton.events import CloudEvent

PRODUCT_CREATED = "shop.catalog.product.created.v1"
PRODUCT_PRICE_CHANGED = "shop.catalog.product.price_changed.v1"
RESERVATION_EXPIRED = "shop.inventory.reservation.expired.v1"


def _price(event: CloudEvent) -> Price:
    data = event.data
    return Price(str(data["product_id"]), int(data["price_cents"]), str(data["currency"]), int(data["version"]))


@service.handler(PRODUCT_CREATED)
async def on_product_created(event: CloudEvent, session: AsyncSession) -> None:
    """A new product's price enters the read model."""
    await apply_price(session, _price(event))


@service.handler(PRODUCT_PRICE_CHANGED)
async def on_price_changed(event: CloudEvent, session: AsyncSession) -> None:
    """A new price replaces the stored one if its version is newer."""
    await apply_price(session, _price(event))


@service.handler(RESERVATION_EXPIRED)
async def on_reservation_expired(event: CloudEvent, session: AsyncSession) -> None:
    """Mark the order; its saga's next step sees the mark and compensates (see ``note_reservation_expired``)."""
    await note_reservation_expired(session, str(event.data["order_id"]))
