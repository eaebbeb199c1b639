"""The analytics service: a projection of confirmed orders — domain operations, transport-free.

Run it with ``python -m baton.kit.serve apps.shop.analytics.service:service``. It is fed only by events
(``order.confirmed``, ``order.cancelled``, ``product.created``; handlers in :mod:`apps.shop.analytics.events`)
and never calls another service. Each handler runs in the inbox transaction, so a redelivered event is a
no-op; the facts it records (one row per order and order line) make the projection independent of the
order in which events arrive, too.

An order cancelled after its confirmation (refunded) leaves the revenue and takes its loyalty points back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.analytics.models import metadata, product_names, sale_lines, sales
from apps.shop.analytics.settings import AnalyticsSettings
from apps.shop.common.sql import insert_new
from baton.kit import Service

service = Service(
    "analytics",
    settings=AnalyticsSettings,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)

CONFIRMED = "confirmed"
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class SoldLine:
    """Units of one product in a confirmed order, at the price the order paid."""

    product_id: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class ProductSales:
    """What one product sold in confirmed (and not since cancelled) orders."""

    product_id: str
    name: str | None
    orders: int
    units: int
    revenue_cents: int


@dataclass(frozen=True, slots=True)
class Revenue:
    """The shop's takings."""

    revenue_cents: int
    currency: str
    confirmed_orders: int
    cancelled_orders: int


@dataclass(frozen=True, slots=True)
class Loyalty:
    """A customer's loyalty points: one per whole EUR of each confirmed order."""

    customer_id: str
    points: int
    confirmed_orders: int


def points_for(total_cents: int) -> int:
    """Loyalty points a confirmed order of ``total_cents`` earns (``ANALYTICS_CENTS_PER_POINT``)."""
    settings: AnalyticsSettings = service.settings
    return max(total_cents, 0) // settings.cents_per_point


async def record_product(session: AsyncSession, *, product_id: str, name: str) -> None:
    """Remember a product's name for the sales report."""
    if not await insert_new(session, product_names, {"product_id": product_id, "name": name}, unique=["product_id"]):
        await session.execute(update(product_names).where(product_names.c.product_id == product_id).values(name=name))


def _sale(order_id: str, customer_id: str | None, status: str, total_cents: int, currency: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "status": status,
        "total_cents": total_cents,
        "currency": currency,
        "points": points_for(total_cents),
        "updated_at": time.time(),
    }


async def record_confirmed(
    session: AsyncSession,
    *,
    order_id: str,
    customer_id: str | None,
    lines: Iterable[SoldLine],
    total_cents: int,
    currency: str,
) -> None:
    """Count a confirmed order: its lines, its revenue and its customer's points.

    A repeat is a no-op; after a cancellation that overtook it, the lines are kept but the order stays cancelled.
    """
    await insert_new(
        session, sales, _sale(order_id, customer_id, CONFIRMED, total_cents, currency), unique=["order_id"]
    )
    merged: dict[str, tuple[int, int]] = {}
    for line in lines:
        units, revenue = merged.get(line.product_id, (0, 0))
        merged[line.product_id] = (units + line.quantity, revenue + line.quantity * line.unit_price_cents)
    for product_id, (units, revenue) in merged.items():
        row = {"order_id": order_id, "product_id": product_id, "quantity": units, "revenue_cents": revenue}
        await insert_new(session, sale_lines, row, unique=["order_id", "product_id"])


async def record_cancelled(
    session: AsyncSession,
    *,
    order_id: str,
    customer_id: str | None,
    total_cents: int,
    currency: str,
) -> None:
    """Count a cancelled order; one cancelled after confirmation loses its revenue and points."""
    sale = _sale(order_id, customer_id, CANCELLED, total_cents, currency)
    if not await insert_new(session, sales, sale, unique=["order_id"]):
        await session.execute(
            update(sales).where(sales.c.order_id == order_id).values(status=CANCELLED, updated_at=sale["updated_at"])
        )


async def sales_by_product(session: AsyncSession) -> list[ProductSales]:
    """Orders, units and revenue per product over confirmed orders, best-selling (by revenue) first."""
    revenue = func.sum(sale_lines.c.revenue_cents)
    query = (
        select(
            sale_lines.c.product_id,
            product_names.c.name,
            func.count(sale_lines.c.order_id),
            func.sum(sale_lines.c.quantity),
            revenue,
        )
        .join(sales, sales.c.order_id == sale_lines.c.order_id)
        .outerjoin(product_names, product_names.c.product_id == sale_lines.c.product_id)
        .where(sales.c.status == CONFIRMED)
        .group_by(sale_lines.c.product_id, product_names.c.name)
        .order_by(revenue.desc(), sale_lines.c.product_id)
    )
    return [ProductSales(*row) for row in (await session.execute(query)).all()]


async def revenue(session: AsyncSession, *, currency: str = "EUR") -> Revenue:
    """Revenue of confirmed orders and the number of confirmed and cancelled orders."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(sales.c.total_cents).filter(sales.c.status == CONFIRMED), 0),
                func.count().filter(sales.c.status == CONFIRMED),
                func.count().filter(sales.c.status == CANCELLED),
            ).where(sales.c.currency == currency)
        )
    ).one()
    return Revenue(revenue_cents=int(row[0]), currency=currency, confirmed_orders=row[1], cancelled_orders=row[2])


async def loyalty(session: AsyncSession, customer_id: str) -> Loyalty:
    """The points a customer holds (zero for a customer without confirmed orders)."""
    row = (
        await session.execute(
            select(func.coalesce(func.sum(sales.c.points), 0), func.count()).where(
                sales.c.customer_id == customer_id, sales.c.status == CONFIRMED
            )
        )
    ).one()
    return Loyalty(customer_id=customer_id, points=int(row[0]), confirmed_orders=row[1])


# Registers the event handlers and HTTP routes on ``service``; last, because they call the operations above.
from apps.shop.analytics import api, events  # noqa: E402, F401
