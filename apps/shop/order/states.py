"""The order state machine: ``PENDING`` ends ``CONFIRMED`` or ``CANCELLED``, and stays there.

::

    PENDING ──confirm──▶ CONFIRMED
       └─────cancel───▶ CANCELLED (with a reason)

Moving to the state an order is already in is a replay (no change, no second event), so the saga steps that
drive these transitions can be re-run safely. Anything else is refused.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType


class OrderStatus(enum.StrEnum):
    """Where an order is."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        """True for ``CONFIRMED`` and ``CANCELLED``: nothing happens to the order afterwards."""
        return self is not OrderStatus.PENDING


class Move(enum.Enum):
    """What a requested transition amounts to."""

    APPLY = "apply"
    REPLAY = "replay"
    """Already there: change nothing."""
    REFUSE = "refuse"


_P, _CO, _CA = OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.CANCELLED

#: (current, target) → move. Every pair is listed, so the table is the whole truth.
TRANSITIONS: Mapping[tuple[OrderStatus, OrderStatus], Move] = MappingProxyType(
    {
        (_P, _P): Move.REPLAY,
        (_P, _CO): Move.APPLY,
        (_P, _CA): Move.APPLY,
        (_CO, _P): Move.REFUSE,
        (_CO, _CO): Move.REPLAY,
        (_CO, _CA): Move.REFUSE,
        (_CA, _P): Move.REFUSE,
        (_CA, _CO): Move.REFUSE,
        (_CA, _CA): Move.REPLAY,
    }
)


def move(current: OrderStatus, target: OrderStatus) -> Move:
    """What moving an order from ``current`` to ``target`` amounts to."""
    return TRANSITIONS[(current, target)]
