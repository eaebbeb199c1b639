"""The order service's tables: carts, orders, and the price read model fed by catalog events."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table

metadata = MetaData()

carts = Table(
    "carts",
    metadata,
    Column("cart_id", String(32), primary_key=True),
    Column("customer_id", String(64), nullable=True),
    Column("status", String(16), nullable=False, comment="open | ordered"),
    Column("order_id", String(32), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

cart_items = Table(
    "cart_items",
    metadata,
    Column("cart_id", String(32), ForeignKey("carts.cart_id"), primary_key=True),
    Column("product_id", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(32), primary_key=True),
    Column("cart_id", String(32), nullable=False, unique=True, comment="one order per cart"),
    Column("customer_id", String(64), nullable=True, index=True),
    Column("email", String(1024), nullable=False, comment="sealed (AES-GCM, apps.shop.common.fields)"),
    Column("card_token", String(80), nullable=False, comment="a payment token, never a card number"),
    Column("status", String(16), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("total_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reservation_expired", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_orders_status_created_at", "status", "created_at"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(32), ForeignKey("orders.order_id"), primary_key=True),
    Column("product_id", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", Integer, nullable=False),
)

prices = Table(
    "prices",
    metadata,
    Column("product_id", String(64), primary_key=True),
    Column("price_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("version", Integer, nullable=False, comment="the catalog's product version this price is from"),
    Column("updated_at", Float, nullable=False),
)

read_model_marks = Table(
    "read_model_marks",
    metadata,
    Column("name", String(64), primary_key=True, comment="e.g. 'prices.backfilled'"),
    Column("at", Float, nullable=False),
)
