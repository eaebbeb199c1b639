"""Create baton_idempotency: reserved and answered Idempotency-Keys, per route.

Revision ID: kit0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kit0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table."""
    op.create_table(
        "baton_idempotency",
        sa.Column("scope", sa.String(length=300), nullable=False, comment="METHOD + route template"),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "status_code",
            sa.Integer(),
            nullable=True,
            comment="NULL while the first request is in progress",
        ),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_index("ix_baton_idempotency_expires_at", "baton_idempotency", ["expires_at"])


def downgrade() -> None:
    """Drop the table."""
    op.drop_index("ix_baton_idempotency_expires_at", table_name="baton_idempotency")
    op.drop_table("baton_idempotency")
