"""Order → payment: authorize (and be declined), then capture — through order's real HTTP peers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from apps.shop.order.peers import HttpPeers
from pact import Pact, match

from baton.client import ServiceClient
from baton.delivery.contracts import consumer_pact, publish
from baton.errors import UpstreamRejected

pytestmark = pytest.mark.integration


@pytest.fixture
def payment_pact(contract_store, order_version) -> Callable[[Pact], object]:
    """``async with played(pact) as payments``: order's peers against the mock; the pact is published after."""

    @asynccontextmanager
    async def played(pact: Pact) -> AsyncIterator[HttpPeers]:
        with pact.serve() as mock:
            client = ServiceClient("payment", base_url=str(mock.url))
            try:
                yield HttpPeers({"payment": client})  # type: ignore[arg-type]
            finally:
                await client.aclose()
        publish(pact, contract_store, consumer_version=order_version)

    return played


def authorize_body(payment_id: str, card: str) -> dict[str, object]:
    return {
        "payment_id": payment_id,
        "order_id": match.str("o-1"),
        "amount_cents": match.int(2590),
        "currency": match.str("EUR"),
        "card_token": card,
    }


async def test_an_authorization_is_granted(payment_pact) -> None:
    pact = consumer_pact("order", "payment")
    (
        pact.upon_receiving("an authorization")
        .given("no payment pay-1 yet")
        .with_request("POST", "/v1/payments/authorize")
        .with_body(authorize_body("pay-1", "tok_visa"), content_type="application/json")
        .will_respond_with(201)
        .with_body({"payment_id": "pay-1", "status": "authorized"}, content_type="application/json")
    )
    async with payment_pact(pact) as payments:
        payment = await payments.authorize(
            payment_id="pay-1", order_id="o-1", amount_cents=2590, currency="EUR", card_token="tok_visa", key="k"
        )
    assert payment["status"] == "authorized"


async def test_a_declined_card_is_a_402(payment_pact) -> None:
    pact = consumer_pact("order", "payment")
    (
        pact.upon_receiving("an authorization with a declined card")
        .given("no payment pay-2 yet")
        .with_request("POST", "/v1/payments/authorize")
        .with_body(authorize_body("pay-2", "tok_decline"), content_type="application/json")
        .will_respond_with(402)
        .with_body({"status": 402, "title": match.str("Payment declined")}, content_type="application/problem+json")
    )
    async with payment_pact(pact) as payments:
        with pytest.raises(UpstreamRejected) as declined:
            await payments.authorize(
                payment_id="pay-2", order_id="o-1", amount_cents=2590, currency="EUR", card_token="tok_decline", key="k"
            )
    assert declined.value.context["status"] == 402


async def test_an_authorized_payment_is_captured(payment_pact) -> None:
    pact = consumer_pact("order", "payment")
    (
        pact.upon_receiving("a capture of an authorized payment")
        .given("payment pay-3 is authorized")
        .with_request("POST", "/v1/payments/pay-3/capture")
        .will_respond_with(200)
        .with_body({"payment_id": "pay-3", "status": "captured"}, content_type="application/json")
    )
    async with payment_pact(pact) as payments:
        captured = await payments.act("pay-3", "capture", key="k")
    assert captured["status"] == "captured"
