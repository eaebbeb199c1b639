"""Order → inventory: the reservation calls of the checkout saga, made by order's real HTTP peers, and the
``reservation.expired`` event order consumes (a message interaction in the same pact).

Each test declares one interaction on a fresh pact and plays it against Pact's mock server (or, for the event,
hands the message to order's decoding); :func:`publish` merges them into the one ``order → inventory`` pact of this
order version. Inventory verifies the event from the outbox of a real inventory process whose short-lived
reservation expired (``apps/shop/inventory/tests/contracts/test_provider.py``).
"""

from __future__ import annotations

import pytest
from apps.shop.order.events import RESERVATION_EXPIRED
from pact import match

from baton.delivery.contracts import consumer_pact, publish
from baton.delivery.contracts.fixtures import expect_event, read_events
from baton.errors import UpstreamRejected
from baton.events import CloudEvent

pytestmark = pytest.mark.integration

HELD = {
    "reservation_id": match.str("r-1"),
    "order_id": match.str("o-1"),
    "status": "held",
    "expires_at": match.str("2030-01-01T00:00:00+00:00"),
    "lines": match.each_like({"product_id": match.str("p-1"), "quantity": match.int(2)}),
}


async def test_a_reservation_of_available_stock_is_held(peers) -> None:
    pact = consumer_pact("order", "inventory")
    (
        pact.upon_receiving("a reservation of available stock")
        .given("product p-1 has 10 units in stock")
        .with_request("POST", "/v1/reservations")
        .with_body(
            {
                "reservation_id": match.str("r-1"),
                "order_id": match.str("o-1"),
                "lines": match.each_like({"product_id": "p-1", "quantity": match.int(2)}),
                "ttl_seconds": match.number(120),
            },
            content_type="application/json",
        )
        .will_respond_with(201)
        .with_body(HELD, content_type="application/json")
    )
    async with peers(pact, "inventory") as inventory:
        held = await inventory.reserve(
            reservation_id="r-1", order_id="o-1", lines=[{"product_id": "p-1", "quantity": 2}], ttl_seconds=120, key="k"
        )
    assert held["status"] == "held"
    assert held["reservation_id"] == "r-1"


async def test_a_reservation_beyond_the_stock_is_a_business_no(peers) -> None:
    pact = consumer_pact("order", "inventory")
    (
        pact.upon_receiving("a reservation beyond the stock")
        .given("product p-1 has 0 units in stock")
        .with_request("POST", "/v1/reservations")
        .with_body(
            {
                "reservation_id": match.str("r-2"),
                "order_id": match.str("o-2"),
                "lines": [{"product_id": "p-1", "quantity": 1}],
                "ttl_seconds": match.number(120),
            },
            content_type="application/json",
        )
        .will_respond_with(409)
        .with_body({"status": 409, "title": match.str("Conflict")}, content_type="application/problem+json")
    )
    async with peers(pact, "inventory") as inventory:
        with pytest.raises(UpstreamRejected) as refused:
            await inventory.reserve(
                reservation_id="r-2",
                order_id="o-2",
                lines=[{"product_id": "p-1", "quantity": 1}],
                ttl_seconds=120,
                key="k",
            )
    assert refused.value.context["status"] == 409  # the saga compensates on this, never retries it


async def test_a_held_reservation_is_released(peers) -> None:
    pact = consumer_pact("order", "inventory")
    (
        pact.upon_receiving("a release of a held reservation")
        .given("reservation r-held is held")
        .with_request("POST", "/v1/reservations/r-held/release")
        .will_respond_with(200)
        .with_body({"reservation_id": "r-held", "status": "released"}, content_type="application/json")
    )
    async with peers(pact, "inventory") as inventory:
        await inventory.release("r-held", key="k")  # answers nothing to the saga: a 200 is all it needs


def test_order_reads_a_reservation_expiry(contract_store, order_version) -> None:
    pact = consumer_pact("order", "inventory")
    expect_event(
        pact,
        "a reservation expiry",
        given="reservation r-expiring has expired",
        source="inventory",
        kind=RESERVATION_EXPIRED,
        data={"reservation_id": match.str("r-expiring"), "order_id": match.str("o-expiring")},
    )
    read: list[str] = []

    def handle(event: CloudEvent) -> None:
        assert event.type == RESERVATION_EXPIRED
        read.append(str(event.data["order_id"]))  # what on_reservation_expired passes on

    read_events(pact, handle)
    assert read == ["o-expiring"]
    publish(pact, contract_store, consumer_version=order_version)
