"""The analytics projection's tables: facts recorded from events, aggregated when read.

Keeping one row per order (and per order line) rather than running totals makes every handler idempotent
and order-independent by construction: a cancellation that overtakes its confirmation, or a redelivered
event, changes a status or finds its row present — it never double-counts.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, String, Table

metadata = MetaData()

product_names = Table(
    "product_names",
    metadata,
    Column("product_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
)

sales = Table(
    "sales",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=True, index=True),
    Column("status", String(16), nullable=False),
    Column("total_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("points", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

sale_lines = Table(
    "sale_lines",
    metadata,
    Column("order_id", String(64), ForeignKey("sales.order_id"), primary_key=True),
    Column("product_id", String(64), primary_key=True, index=True),
    Column("quantity", Integer, nullable=False),
    Column("revenue_cents", Integer, nullable=False),
)
