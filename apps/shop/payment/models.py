"""The payment service's table: one row per payment, holding a card token and never a card number."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("payment_id", String(64), primary_key=True),
    Column("order_id", String(64), nullable=True, index=True, comment="NULL for a void that came before its authorize"),
    Column("amount_cents", Integer, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("card_token", String(80), nullable=True, comment="an opaque token (tok_...), never a card number"),
    Column("status", String(16), nullable=False),
    Column("decline_reason", String(200), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
