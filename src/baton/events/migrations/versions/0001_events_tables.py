"""Outbox and inbox tables.

Revision ID: baton_events_0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "baton_events_0001"
down_revision = None
branch_labels = ("baton_events",)
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``baton_outbox`` and ``baton_inbox``."""
    op.create_table(
        "baton_outbox",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_baton_outbox_pending",
        "baton_outbox",
        ["seq"],
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "baton_inbox",
        sa.Column("consumer", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("processed_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_baton_inbox"),
    )
    op.create_index("ix_baton_inbox_processed_at", "baton_inbox", ["processed_at"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index("ix_baton_inbox_processed_at", table_name="baton_inbox")
    op.drop_table("baton_inbox")
    op.drop_index("ix_baton_outbox_pending", table_name="baton_outbox")
    op.drop_table("baton_outbox")
