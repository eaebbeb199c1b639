"""Saga tables: baton_saga, baton_saga_log (append-only), baton_flow_event.

Revision ID: saga_0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "saga_0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "baton_saga",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", sa.Float, nullable=True),
    )
    op.create_index("ix_baton_saga_status", "baton_saga", ["status", "lease_expires_at"])
    op.create_index("ix_baton_saga_correlation_id", "baton_saga", ["correlation_id"])
    op.create_table(
        "baton_saga_log",
        sa.Column("saga_id", sa.String(64), sa.ForeignKey("baton_saga.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("step", sa.String(100), nullable=True),
        sa.Column("attempt", sa.Integer, nullable=True),
        sa.Column("payload", Json, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_table(
        "baton_flow_event",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", Json, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_baton_flow_event_correlation", "baton_flow_event", ["correlation_id", "at"])


def downgrade() -> None:
    op.drop_table("baton_flow_event")
    op.drop_table("baton_saga_log")
    op.drop_table("baton_saga")
