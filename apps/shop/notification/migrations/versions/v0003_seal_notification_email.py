"""seal the recipient's address: room for its AES-GCM envelope

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27T02:05:00+00:00
"""

from __future__ import annotations

from apps.shop.common.fields import narrow_from_sealing, widen_for_sealing

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    widen_for_sealing("notifications", "email", plaintext_length=320)


def downgrade() -> None:
    narrow_from_sealing("notifications", "email", plaintext_length=320)
