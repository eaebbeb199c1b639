"""The payment service's HTTP API: thin adapters from ``/v1/payments...`` to :mod:`apps.shop.payment.service`."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from apps.shop.common.access import CARD_TOKEN_PATTERN
from apps.shop.payment.cards import any_value_is_pan, contains_pan
from apps.shop.payment.service import (
    Authorization,
    Payment,
    PaymentDeclined,
    authorize,
    capture,
    get_payment,
    list_payments,
    refund,
    service,
    simulate_latency,
    void,
)
from apps.shop.payment.settings import PaymentSettings
from apps.shop.payment.states import PaymentStatus
from baton.kit import SessionDep, problem_response
from baton.kit.problems import problem_type

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_PAN_REFUSED = "looks like a card number; send a card token (tok_...) instead, never the number"


class AuthorizeBody(BaseModel):
    """Body of ``POST /v1/payments/authorize``. Unknown fields are refused: card data has no place here."""

    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(pattern=ID_PATTERN)
    order_id: str = Field(pattern=ID_PATTERN)
    amount_cents: int = Field(gt=0, le=100_000_000)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    card_token: str = Field(pattern=CARD_TOKEN_PATTERN)

    @model_validator(mode="before")
    @classmethod
    def _no_card_numbers(cls, data: Any) -> Any:
        if any_value_is_pan(data):
            raise ValueError(f"the body {_PAN_REFUSED}")
        return data

    @field_validator("card_token")
    @classmethod
    def _token_is_not_a_pan(cls, value: str) -> str:
        if contains_pan(value):
            raise ValueError(f"card_token {_PAN_REFUSED}")
        return value


class PaymentOut(BaseModel):
    """A payment."""

    payment_id: str
    order_id: str | None
    amount_cents: int | None
    currency: str | None
    status: PaymentStatus
    decline_reason: str | None
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        """Encode a domain payment."""
        return cls(
            payment_id=payment.payment_id,
            order_id=payment.order_id,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            status=payment.status,
            decline_reason=payment.decline_reason,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )


class PaymentPage(BaseModel):
    """One page of payments; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[PaymentOut]
    next_cursor: str | None


def _settings() -> PaymentSettings:
    settings: PaymentSettings = service.settings
    return settings


@service.post(
    "/v1/payments/authorize",
    status_code=201,
    responses={402: {"description": "Declined (recorded as a declined payment)"}},
)
async def post_authorize(body: AuthorizeBody, session: SessionDep, request: Request) -> Any:
    """Authorize an amount on a card token; a decline is recorded and answered 402. Idempotent by payment id."""
    settings = _settings()
    await simulate_latency(settings)
    payment = await authorize(
        session,
        Authorization(body.payment_id, body.order_id, body.amount_cents, body.currency, body.card_token),
        settings=settings,
    )
    if payment.status is PaymentStatus.DECLINED:
        # Answered, not raised: raising would roll back the transaction that records the decline.
        return problem_response(
            402,
            type=problem_type(PaymentDeclined),
            title=PaymentDeclined.title,
            detail=payment.decline_reason,
            instance=request.url.path,
            payment_id=payment.payment_id,
        )
    return PaymentOut.of(payment)


@service.post("/v1/payments/{payment_id}/capture")
async def post_capture(payment_id: str, session: SessionDep) -> PaymentOut:
    """Capture an authorized payment (a repeat answers the same)."""
    await simulate_latency(_settings())
    return PaymentOut.of(await capture(session, payment_id))


@service.post("/v1/payments/{payment_id}/void")
async def post_void(payment_id: str, session: SessionDep) -> PaymentOut:
    """Void an authorization (also before it arrived: a late authorize is then refused)."""
    await simulate_latency(_settings())
    return PaymentOut.of(await void(session, payment_id))


@service.post("/v1/payments/{payment_id}/refund")
async def post_refund(payment_id: str, session: SessionDep) -> PaymentOut:
    """Refund a captured payment (a repeat answers the same)."""
    await simulate_latency(_settings())
    return PaymentOut.of(await refund(session, payment_id))


@service.get("/v1/payments/{payment_id}")
async def get_one(payment_id: str, session: SessionDep) -> PaymentOut:
    """One payment."""
    return PaymentOut.of(await get_payment(session, payment_id))


@service.get("/v1/payments")
async def get_many(
    session: SessionDep,
    response: Response,
    order_id: str | None = Query(default=None, pattern=ID_PATTERN),
    limit: int = Query(default=50, ge=1, le=100),
    cursor: str | None = Query(default=None, pattern=ID_PATTERN),
) -> PaymentPage:
    """Payments, optionally of one order, by payment id."""
    items = await list_payments(session, order_id=order_id, limit=limit, after=cursor)
    next_cursor = items[-1].payment_id if len(items) == limit else None
    return PaymentPage(items=[PaymentOut.of(p) for p in items], next_cursor=next_cursor)
