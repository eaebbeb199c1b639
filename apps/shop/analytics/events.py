"""The events analytics consumes: thin adapters that decode a payload and call :mod:`apps.shop.analytics.service`.

Each handler runs in the inbox transaction (its writes commit with the record of the event), so a redelivery
is a no-op. A payload that does not match the contract raises :class:`~baton.errors.EventError`: retried, then
dead-lettered with the reason, never half-applied.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.analytics.service import SoldLine, record_cancelled, record_confirmed, record_product, service
from baton.errors import EventError
from baton.events import CloudEvent

PRODUCT_CREATED = "shop.catalog.product.created.v1"
ORDER_CONFIRMED = "shop.order.order.confirmed.v1"
ORDER_CANCELLED = "shop.order.order.cancelled.v1"

M = TypeVar("M", bound=BaseModel)


class ProductCreated(BaseModel):
    """The part of ``product.created`` analytics reads."""

    product_id: str
    name: str


class OrderLine(BaseModel):
    """A line of a confirmed order."""

    product_id: str
    quantity: int = Field(ge=1)
    unit_price_cents: int = Field(ge=0)


class OrderConfirmed(BaseModel):
    """The part of ``order.confirmed`` analytics reads."""

    order_id: str
    customer_id: str | None = None
    lines: list[OrderLine]
    total_cents: int
    currency: str


class OrderCancelled(BaseModel):
    """The part of ``order.cancelled`` analytics reads."""

    order_id: str
    customer_id: str | None = None
    total_cents: int
    currency: str
    was_confirmed: bool = False


def decode(model: type[M], event: CloudEvent) -> M:
    """The event's data as ``model``.

    Raises:
        EventError: the data does not match the contract.
    """
    data: Any = event.data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise EventError(f"{event.type} {event.id}: data does not match the contract: {exc}") from exc


@service.handler(PRODUCT_CREATED)
async def on_product_created(event: CloudEvent, session: AsyncSession) -> None:
    """Remember the product's name for the sales report."""
    product = decode(ProductCreated, event)
    await record_product(session, product_id=product.product_id, name=product.name)


@service.handler(ORDER_CONFIRMED)
async def on_order_confirmed(event: CloudEvent, session: AsyncSession) -> None:
    """Count the order's lines, revenue and points."""
    order = decode(OrderConfirmed, event)
    await record_confirmed(
        session,
        order_id=order.order_id,
        customer_id=order.customer_id,
        lines=[SoldLine(line.product_id, line.quantity, line.unit_price_cents) for line in order.lines],
        total_cents=order.total_cents,
        currency=order.currency,
    )


@service.handler(ORDER_CANCELLED)
async def on_order_cancelled(event: CloudEvent, session: AsyncSession) -> None:
    """Count the cancellation; an order cancelled after confirmation leaves the revenue and its points."""
    order = decode(OrderCancelled, event)
    await record_cancelled(
        session,
        order_id=order.order_id,
        customer_id=order.customer_id,
        total_cents=order.total_cents,
        currency=order.currency,
    )
