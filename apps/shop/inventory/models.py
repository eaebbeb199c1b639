"""The inventory's tables (its database is its own; no other service reads it).

Conservation: a reservation moves units from available to ``reserved``; a commit takes them out of both
``on_hand`` and ``reserved``; a release (or expiry) gives them back. The check constraints make an
oversell impossible even if a statement were wrong: the database refuses ``reserved > on_hand``.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table

metadata = MetaData()

stock = Table(
    "stock",
    metadata,
    Column("product_id", String(64), primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    CheckConstraint("on_hand >= 0", name="ck_stock_on_hand_non_negative"),
    CheckConstraint("reserved >= 0", name="ck_stock_reserved_non_negative"),
    CheckConstraint("reserved <= on_hand", name="ck_stock_reserved_within_on_hand"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", String(64), primary_key=True),
    # NULL for a tombstone: a release that arrived before (or instead of) its reservation.
    Column("order_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
# The sweeper's scan: held reservations by expiry.
Index("ix_reservations_status_expires_at", reservations.c.status, reservations.c.expires_at)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column("reservation_id", String(64), ForeignKey("reservations.id"), primary_key=True),
    Column("product_id", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="ck_reservation_lines_quantity_positive"),
)
