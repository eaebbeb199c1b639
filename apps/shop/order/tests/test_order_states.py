"""The order state machine as a table."""

from __future__ import annotations

import pytest
from apps.shop.order.states import TRANSITIONS, Move, OrderStatus, move

P, CO, CA = OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.CANCELLED

TABLE = [
    (P, P, Move.REPLAY),
    (P, CO, Move.APPLY),
    (P, CA, Move.APPLY),
    (CO, CO, Move.REPLAY),
    (CO, CA, Move.REFUSE),
    (CO, P, Move.REFUSE),
    (CA, CA, Move.REPLAY),
    (CA, CO, Move.REFUSE),
    (CA, P, Move.REFUSE),
]


@pytest.mark.parametrize(("current", "target", "expected"), TABLE)
def test_transition_table(current, target, expected):
    assert move(current, target) is expected


def test_the_table_is_complete():
    assert set(TRANSITIONS) == {(a, b) for a in OrderStatus for b in OrderStatus}


def test_only_pending_is_not_final():
    assert [s for s in OrderStatus if not s.final] == [P]
