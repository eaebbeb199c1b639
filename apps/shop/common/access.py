"""Shop-wide request rules that more than one service applies: who is staff, what a card token looks like."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from baton.errors import Forbidden

STAFF_ROLE = "staff"

CARD_TOKEN_PATTERN = r"^tok_[A-Za-z0-9_]{1,64}$"
"""A payment token as the simulated provider issues it; never a card number."""


async def require_staff(x_baton_role: Annotated[str | None, Header()] = None) -> None:
    """The one place that decides who is staff: for now the ``X-Baton-Role: staff`` header.

    The security work replaces this body with a JWT scope check; every staff route depends on this function.

    Raises:
        Forbidden: the caller is not staff.
    """
    if x_baton_role != STAFF_ROLE:
        raise Forbidden("this operation is for staff (X-Baton-Role: staff)")
