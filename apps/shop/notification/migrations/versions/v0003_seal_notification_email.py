"""seal the recipient's address: room for its AES-GCM envelope

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27T02:05:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before stay readable as they are (no ``enc1:`` prefix); new ones are sealed.
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column(
            "email",
            existing_type=sa.String(length=320),
            type_=sa.String(length=1024),
            existing_nullable=False,
            comment="sealed (AES-GCM, apps.shop.common.fields)",
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column(
            "email", existing_type=sa.String(length=1024), type_=sa.String(length=320), existing_nullable=False
        )
