"""The catalog's tables (its database is its own; no other service reads it)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Float, ForeignKey, Integer, MetaData, String, Table, Text

metadata = MetaData()

categories = Table(
    "categories",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("sku", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("price_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("category_id", String(64), ForeignKey("categories.id"), nullable=False, index=True),
    # Starts at 1 and grows by one per change: consumers of product events apply only newer versions.
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    CheckConstraint("price_cents >= 0", name="ck_products_price_non_negative"),
)
