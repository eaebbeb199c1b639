"""seal the order e-mail: room for its AES-GCM envelope

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27T02:00:00+00:00
"""

from __future__ import annotations

from apps.shop.common.fields import narrow_from_sealing, widen_for_sealing

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    widen_for_sealing("orders", "email", plaintext_length=254)


def downgrade() -> None:
    narrow_from_sealing("orders", "email", plaintext_length=254)
