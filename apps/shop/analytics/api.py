"""The analytics HTTP API (read-only): thin adapters over :mod:`apps.shop.analytics.service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query
from pydantic import BaseModel

from apps.shop.analytics.service import loyalty, revenue, sales_by_product, service
from apps.shop.common.access import require_staff
from apps.shop.common.users import CurrentUser, install, owner_check
from baton.kit import SessionDep

users = install(service)
"""Sales figures are for staff; a customer reads only their own loyalty points."""


class ProductSalesOut(BaseModel):
    """What one product sold in confirmed orders."""

    product_id: str
    name: str | None
    orders: int
    units: int
    revenue_cents: int


class ProductSalesList(BaseModel):
    """Sales per product, best-selling first (a single page: one row per product)."""

    items: list[ProductSalesOut]
    next_cursor: str | None = None


class RevenueOut(BaseModel):
    """Revenue of confirmed orders, and how many orders were confirmed and cancelled."""

    revenue_cents: int
    currency: str
    confirmed_orders: int
    cancelled_orders: int


class LoyaltyOut(BaseModel):
    """A customer's loyalty points."""

    customer_id: str
    points: int
    confirmed_orders: int


@service.get("/v1/sales/products", dependencies=[Depends(require_staff)])
async def get_sales_by_product(session: SessionDep) -> ProductSalesList:
    """Orders, units and revenue per product."""
    rows = await sales_by_product(session)
    return ProductSalesList(
        items=[
            ProductSalesOut(
                product_id=r.product_id, name=r.name, orders=r.orders, units=r.units, revenue_cents=r.revenue_cents
            )
            for r in rows
        ]
    )


@service.get("/v1/sales/revenue", dependencies=[Depends(require_staff)])
async def get_revenue(
    session: SessionDep, currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")] = "EUR"
) -> RevenueOut:
    """Total revenue of confirmed orders in ``currency``."""
    total = await revenue(session, currency=currency)
    return RevenueOut(
        revenue_cents=total.revenue_cents,
        currency=total.currency,
        confirmed_orders=total.confirmed_orders,
        cancelled_orders=total.cancelled_orders,
    )


@service.get("/v1/loyalty/{customer_id}")
async def get_loyalty(
    customer_id: Annotated[str, Path(max_length=64)], session: SessionDep, user: CurrentUser
) -> LoyaltyOut:
    """A customer's loyalty points (zero when they have no confirmed orders); the caller's own, or staff."""
    owner_check(customer_id, user, resource="customer")
    points = await loyalty(session, customer_id)
    return LoyaltyOut(customer_id=points.customer_id, points=points.points, confirmed_orders=points.confirmed_orders)
