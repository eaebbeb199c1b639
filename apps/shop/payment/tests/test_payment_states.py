"""The payment state machine as a table: every (operation, state) cell."""

from __future__ import annotations

import pytest
from apps.shop.payment.states import TRANSITIONS, Operation, PaymentStatus, Verdict, rule

A, D, C, V, R = (
    PaymentStatus.AUTHORIZED,
    PaymentStatus.DECLINED,
    PaymentStatus.CAPTURED,
    PaymentStatus.VOIDED,
    PaymentStatus.REFUNDED,
)
APPLY, REPLAY, INVALID, UNKNOWN = Verdict.APPLY, Verdict.REPLAY, Verdict.INVALID, Verdict.UNKNOWN

TABLE = [
    # operation, current, verdict, reached
    (Operation.AUTHORIZE, None, APPLY, None),
    (Operation.AUTHORIZE, A, REPLAY, None),
    (Operation.AUTHORIZE, D, REPLAY, None),
    (Operation.AUTHORIZE, C, REPLAY, None),
    (Operation.CAPTURE, None, UNKNOWN, None),
    (Operation.CAPTURE, A, APPLY, C),
    (Operation.CAPTURE, C, REPLAY, None),
    (Operation.CAPTURE, R, REPLAY, None),
    (Operation.CAPTURE, V, INVALID, None),
    (Operation.CAPTURE, D, INVALID, None),
    (Operation.VOID, None, APPLY, V),
    (Operation.VOID, A, APPLY, V),
    (Operation.VOID, V, REPLAY, None),
    (Operation.VOID, C, INVALID, None),
    (Operation.VOID, R, INVALID, None),
    (Operation.VOID, D, INVALID, None),
    (Operation.REFUND, None, UNKNOWN, None),
    (Operation.REFUND, C, APPLY, R),
    (Operation.REFUND, R, REPLAY, None),
    (Operation.REFUND, A, INVALID, None),
    (Operation.REFUND, V, INVALID, None),
    (Operation.REFUND, D, INVALID, None),
]


@pytest.mark.parametrize(("operation", "current", "verdict", "reached"), TABLE)
def test_transition_table(operation, current, verdict, reached):
    cell = rule(operation, current)
    assert (cell.verdict, cell.to) == (verdict, reached)


def test_every_cell_is_defined():
    states: list[PaymentStatus | None] = [None, *PaymentStatus]
    assert {(op, s) for op in Operation for s in states} == set(TRANSITIONS)


def test_money_only_moves_forward_from_captured():
    # Once captured, the only way out is a refund: a void would silently keep the money.
    assert [op for op in Operation if rule(op, C).verdict is APPLY] == [Operation.REFUND]
