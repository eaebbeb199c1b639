"""seal the order e-mail: room for its AES-GCM envelope

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27T02:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows written before stay readable as they are (no ``enc1:`` prefix); new ones are sealed.
    with op.batch_alter_table("orders") as batch:
        batch.alter_column(
            "email",
            existing_type=sa.String(length=254),
            type_=sa.String(length=1024),
            existing_nullable=False,
            comment="sealed (AES-GCM, apps.shop.common.fields)",
        )


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.alter_column(
            "email", existing_type=sa.String(length=1024), type_=sa.String(length=254), existing_nullable=False
        )
