"""The payment service: a provider simulator's operations, transport-free, and the ``Service`` running them.

Every operation is idempotent by (payment id, operation): the state machine in :mod:`.states` says whether a
request applies a transition, replays one that already happened, or is invalid. Declines are decided by the
card token (``tok_decline``) or by a draw hashed from the payment id against ``PAYMENT_FAILURE_RATE``, so a
retried authorize always gets the first answer. The routes live in :mod:`apps.shop.payment.api`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.common.sql import insert_new
from apps.shop.payment.cards import DECLINE_TOKEN
from apps.shop.payment.models import metadata, payments
from apps.shop.payment.settings import PaymentSettings
from apps.shop.payment.states import Operation, PaymentStatus, Verdict, rule
from baton.errors import BatonError, NotFound, StoreError
from baton.kit import Service

service = Service(
    "payment",
    settings=PaymentSettings,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)

#: Attempts at a transition when a concurrent request changed the payment under us.
_ATTEMPTS = 3


class PaymentDeclined(BatonError):
    """Raised (answered 402) when the issuer declines an authorization; the payment is recorded as declined."""

    status = 402
    title = "Payment declined"


class InvalidTransition(BatonError):
    """Raised (409) when the state machine forbids an operation on the payment's current state."""

    status = 409
    title = "Invalid payment transition"


class PaymentMismatch(BatonError):
    """Raised (422) when an authorize reuses a payment id with a different order, amount, currency or card."""

    status = 422
    title = "Payment id reused with different details"


@dataclass(frozen=True, slots=True)
class Authorization:
    """What an authorize request asks for."""

    payment_id: str
    order_id: str
    amount_cents: int
    currency: str
    card_token: str


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment as the provider keeps it (the card token stays inside the provider)."""

    payment_id: str
    order_id: str | None
    amount_cents: int | None
    currency: str | None
    status: PaymentStatus
    decline_reason: str | None
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, row: Row[Any]) -> Payment:
        """Decode a ``payments`` row."""
        return cls(
            payment_id=row.payment_id,
            order_id=row.order_id,
            amount_cents=row.amount_cents,
            currency=row.currency,
            status=PaymentStatus(row.status),
            decline_reason=row.decline_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def issuer_decision(payment_id: str, card_token: str, *, failure_rate: float, seed: str = "") -> str | None:
    """Why the simulated issuer declines this authorization, or ``None`` when it approves.

    Deterministic: the draw is the payment id hashed into [0, 1), so every retry gets the same answer.
    """
    if card_token == DECLINE_TOKEN:
        return "card declined (test token)"
    digest = hashlib.sha256(f"{seed}:{payment_id}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    return "declined by the issuer (simulated failure)" if draw < failure_rate else None


async def simulate_latency(settings: PaymentSettings) -> None:
    """Wait as long as the simulated provider takes (``PAYMENT_LATENCY_MS``), before touching the database."""
    if settings.latency_ms:
        await asyncio.sleep(settings.latency_ms / 1000)


async def get_payment(session: AsyncSession, payment_id: str) -> Payment:
    """The payment ``payment_id``.

    Raises:
        NotFound: no such payment.
    """
    row = await _load(session, payment_id)
    if row is None:
        raise NotFound(f"no payment {payment_id!r}")
    return Payment.of(row)


async def list_payments(
    session: AsyncSession, *, order_id: str | None = None, limit: int = 50, after: str | None = None
) -> list[Payment]:
    """Payments (of one order when ``order_id`` is given) ordered by id, ``limit`` at a time after ``after``."""
    query = select(payments).order_by(payments.c.payment_id).limit(limit)
    if order_id is not None:
        query = query.where(payments.c.order_id == order_id)
    if after is not None:
        query = query.where(payments.c.payment_id > after)
    return [Payment.of(row) for row in (await session.execute(query)).all()]


async def authorize(session: AsyncSession, request: Authorization, *, settings: PaymentSettings) -> Payment:
    """Authorize ``request``: a new payment ends ``authorized`` or ``declined`` (check ``status``).

    A repeated authorize replays the first outcome.

    Raises:
        PaymentMismatch: the payment id exists with other details.
        InvalidTransition: the payment was voided before it was ever authorized.
    """
    reason = issuer_decision(
        request.payment_id, request.card_token, failure_rate=settings.failure_rate, seed=settings.decline_seed
    )
    status = PaymentStatus.DECLINED if reason else PaymentStatus.AUTHORIZED
    now = time.time()
    # Insert first (a write takes SQLite's lock at once instead of upgrading a read); the decision is a pure
    # function of the request, so computing it for a payment that exists already costs nothing but a hash.
    values = {
        "payment_id": request.payment_id,
        "order_id": request.order_id,
        "amount_cents": request.amount_cents,
        "currency": request.currency,
        "card_token": request.card_token,
        "status": status.value,
        "decline_reason": reason,
        "created_at": now,
        "updated_at": now,
    }
    if await insert_new(session, payments, values, unique=["payment_id"]):
        return await get_payment(session, request.payment_id)
    existing = await _load(session, request.payment_id)
    assert existing is not None
    assert rule(Operation.AUTHORIZE, PaymentStatus(existing.status)).verdict is Verdict.REPLAY
    if existing.amount_cents is None:
        raise InvalidTransition(f"payment {request.payment_id} was voided before it was authorized")
    asked = (request.order_id, request.amount_cents, request.currency, request.card_token)
    if (existing.order_id, existing.amount_cents, existing.currency, existing.card_token) != asked:
        raise PaymentMismatch(f"payment {request.payment_id} was authorized with other details; use a new payment id")
    return Payment.of(existing)


async def capture(session: AsyncSession, payment_id: str) -> Payment:
    """Capture an authorized payment (replay when captured or refunded already)."""
    return await _transition(session, payment_id, Operation.CAPTURE)


async def void(session: AsyncSession, payment_id: str) -> Payment:
    """Void an authorization; voiding an unknown payment records the void so its late authorize is refused."""
    return await _transition(session, payment_id, Operation.VOID)


async def refund(session: AsyncSession, payment_id: str) -> Payment:
    """Refund a captured payment (replay when refunded already)."""
    return await _transition(session, payment_id, Operation.REFUND)


@functools.cache
def _apply(operation: Operation) -> tuple[PaymentStatus, Update]:
    """The status ``operation`` leads to and its conditional ``UPDATE`` (built once per operation: building and
    cache-keying a statement per call costs about as much CPU as running it on SQLite)."""
    sources = [s.value for s in PaymentStatus if rule(operation, s).verdict is Verdict.APPLY]
    target = next(rule(operation, s).to for s in PaymentStatus if rule(operation, s).verdict is Verdict.APPLY)
    assert target is not None
    # Parameters named w_/v_: one named like a column would be taken for one more column to set.
    statement = (
        update(payments)
        .where(payments.c.payment_id == bindparam("w_payment_id"), payments.c.status.in_(sources))
        .values(status=target.value, updated_at=bindparam("v_updated_at"))
    )
    return target, statement


async def _transition(session: AsyncSession, payment_id: str, operation: Operation) -> Payment:
    target, apply = _apply(operation)
    for _ in range(_ATTEMPTS):
        now = time.time()
        # The conditional write comes first: it applies exactly when the table says so, and it takes the
        # write lock before anything is read, so a concurrent operation cannot slip in between.
        applied = await session.execute(apply, {"w_payment_id": payment_id, "v_updated_at": now})
        if getattr(applied, "rowcount", 0) == 1:
            return await get_payment(session, payment_id)
        row = await _load(session, payment_id)
        current = PaymentStatus(row.status) if row is not None else None
        cell = rule(operation, current)
        if cell.verdict is Verdict.UNKNOWN:
            raise NotFound(f"no payment {payment_id!r}")
        if cell.verdict is Verdict.INVALID:
            raise InvalidTransition(f"cannot {operation.value} a {current} payment")
        if cell.verdict is Verdict.REPLAY:
            assert row is not None
            return Payment.of(row)
        tombstone = {"payment_id": payment_id, "status": target.value, "created_at": now, "updated_at": now}
        if row is None and await insert_new(session, payments, tombstone, unique=["payment_id"]):
            return await get_payment(session, payment_id)
        # The payment appeared or changed meanwhile: decide again on what is there now.
    raise StoreError(f"payment {payment_id} kept changing during {operation.value}; retry")


_LOAD = select(payments).where(payments.c.payment_id == bindparam("payment_id"))


async def _load(session: AsyncSession, payment_id: str) -> Row[Any] | None:
    return (await session.execute(_LOAD, {"payment_id": payment_id})).one_or_none()


# Registers the HTTP routes on ``service``; last, because the routes call the operations above.
from apps.shop.payment import api  # noqa: E402, F401
