"""Order → payment: authorize (and be declined), then capture — through order's real HTTP peers."""

from __future__ import annotations

import pytest
from pact import match

from baton.delivery.contracts import consumer_pact
from baton.errors import UpstreamRejected

pytestmark = pytest.mark.integration


def authorize_body(payment_id: str, card: str) -> dict[str, object]:
    return {
        "payment_id": payment_id,
        "order_id": match.str("o-1"),
        "amount_cents": match.int(2590),
        "currency": match.str("EUR"),
        "card_token": card,
    }


async def test_an_authorization_is_granted(peers) -> None:
    pact = consumer_pact("order", "payment")
    (
        pact.upon_receiving("an authorization")
        .given("no payment pay-1 yet")
        .with_request("POST", "/v1/payments/authorize")
        .with_body(authorize_body("pay-1", "tok_visa"), content_type="application/json")
        .will_respond_with(201)
        .with_body({"payment_id": "pay-1", "status": "authorized"}, content_type="application/json")
    )
    async with peers(pact, "payment") as payments:
        payment = await payments.authorize(
            payment_id="pay-1", order_id="o-1", amount_cents=2590, currency="EUR", card_token="tok_visa", key="k"
        )
    assert payment["status"] == "authorized"


async def test_a_declined_card_is_a_402(peers) -> None:
    pact = consumer_pact("order", "payment")
    (
        pact.upon_receiving("an authorization with a declined card")
        .given("no payment pay-2 yet")
        .with_request("POST", "/v1/payments/authorize")
        .with_body(authorize_body("pay-2", "tok_decline"), content_type="application/json")
        .will_respond_with(402)
        .with_body({"status": 402, "title": match.str("Payment declined")}, content_type="application/problem+json")
    )
    async with peers(pact, "payment") as payments:
        with pytest.raises(UpstreamRejected) as declined:
            await payments.authorize(
                payment_id="pay-2", order_id="o-1", amount_cents=2590, currency="EUR", card_token="tok_decline", key="k"
            )
    assert declined.value.context["status"] == 402


async def test_an_authorized_payment_is_captured(peers) -> None:
    pact = consumer_pact("order", "payment")
    (
        pact.upon_receiving("a capture of an authorized payment")
        .given("payment pay-3 is authorized")
        .with_request("POST", "/v1/payments/pay-3/capture")
        .will_respond_with(200)
        .with_body({"payment_id": "pay-3", "status": "captured"}, content_type="application/json")
    )
    async with peers(pact, "payment") as payments:
        captured = await payments.act("pay-3", "capture", key="k")
    assert captured["status"] == "captured"
