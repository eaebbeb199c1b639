"""The notification service's table: one row per e-mail it owes a customer."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("email", String(1024), nullable=False, comment="sealed (AES-GCM, apps.shop.common.fields)"),
    Column("subject", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float, nullable=True),
    # W3C traceparent of the consumer span that owed the e-mail: the sender's "smtp send" span joins that trace.
    Column("traceparent", String(55), nullable=True),
    # The guarantee "one e-mail per order and kind" is this constraint, not a check in the code.
    UniqueConstraint("order_id", "kind", name="uq_notifications_order_kind"),
    Index("ix_notifications_due", "status", "next_attempt_at"),
)
