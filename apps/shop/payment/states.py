"""The payment state machine, as a table: what each operation does to a payment in each state.

::

    (new) ─authorize─▶ authorized ─capture─▶ captured ─refund─▶ refunded
      │                    └──────void─────▶ voided
      ├─authorize─▶ declined
      └─void──────▶ voided (a tombstone: a late authorize for this payment is refused)

Repeating an operation that already happened is a replay (same answer, no new effect), which is what makes
every operation idempotent by (payment id, operation). Anything else is an invalid transition (409).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class PaymentStatus(enum.StrEnum):
    """Where a payment is."""

    AUTHORIZED = "authorized"
    DECLINED = "declined"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"


class Operation(enum.StrEnum):
    """What a caller asks the provider to do."""

    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class Verdict(enum.Enum):
    """How an operation relates to the payment's current state."""

    APPLY = "apply"
    """Perform the transition."""
    REPLAY = "replay"
    """The operation already happened: answer as before, change nothing."""
    INVALID = "invalid"
    """The state machine forbids it (409)."""
    UNKNOWN = "unknown"
    """No such payment (404)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One cell of the table: the verdict and, for ``APPLY``, the state reached."""

    verdict: Verdict
    to: PaymentStatus | None = None


_APPLY = Verdict.APPLY
_REPLAY = Rule(Verdict.REPLAY)
_INVALID = Rule(Verdict.INVALID)
S = PaymentStatus

#: ``None`` as the current state means "no payment with this id yet". Authorize from ``None`` is decided by
#: the issuer (authorized or declined), so its cell carries no target state.
TRANSITIONS: Mapping[tuple[Operation, PaymentStatus | None], Rule] = MappingProxyType(
    {
        (Operation.AUTHORIZE, None): Rule(_APPLY),
        **{(Operation.AUTHORIZE, s): _REPLAY for s in PaymentStatus},
        (Operation.CAPTURE, None): Rule(Verdict.UNKNOWN),
        (Operation.CAPTURE, S.AUTHORIZED): Rule(_APPLY, S.CAPTURED),
        (Operation.CAPTURE, S.CAPTURED): _REPLAY,
        (Operation.CAPTURE, S.REFUNDED): _REPLAY,
        (Operation.CAPTURE, S.VOIDED): _INVALID,
        (Operation.CAPTURE, S.DECLINED): _INVALID,
        # A void may overtake the authorize it cancels (a caller gave up waiting): record it, so the
        # authorize that arrives later is refused instead of leaving a hold nobody will release.
        (Operation.VOID, None): Rule(_APPLY, S.VOIDED),
        (Operation.VOID, S.AUTHORIZED): Rule(_APPLY, S.VOIDED),
        (Operation.VOID, S.VOIDED): _REPLAY,
        (Operation.VOID, S.CAPTURED): _INVALID,
        (Operation.VOID, S.REFUNDED): _INVALID,
        (Operation.VOID, S.DECLINED): _INVALID,
        (Operation.REFUND, None): Rule(Verdict.UNKNOWN),
        (Operation.REFUND, S.CAPTURED): Rule(_APPLY, S.REFUNDED),
        (Operation.REFUND, S.REFUNDED): _REPLAY,
        (Operation.REFUND, S.AUTHORIZED): _INVALID,
        (Operation.REFUND, S.VOIDED): _INVALID,
        (Operation.REFUND, S.DECLINED): _INVALID,
    }
)


def rule(operation: Operation, current: PaymentStatus | None) -> Rule:
    """The table's cell for ``operation`` on a payment in ``current`` (``None``: no such payment)."""
    return TRANSITIONS[(operation, current)]
