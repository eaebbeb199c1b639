"""Shop-wide request rules that more than one service applies: what staff may do, what a card token looks like.

Who is staff comes from the caller's access token (its ``roles`` and ``scope``, signed by identity), never from a
request header: see :mod:`apps.shop.common.users`.
"""

from __future__ import annotations

from apps.shop.common.users import require_scope

STAFF_ROLE = "staff"

CARD_TOKEN_PATTERN = r"^tok_[A-Za-z0-9_]{1,64}$"
"""A payment token as the simulated provider issues it; never a card number."""

require_catalog_write = require_scope("catalog:write")
"""Creating products and changing prices (staff, admin)."""
require_stock_write = require_scope("stock:write")
"""Counting stock (staff, admin)."""
require_staff = require_scope("staff")
"""Any staff-only operation without a narrower scope."""
