"""Analytics ← order: ``order.confirmed`` and ``order.cancelled`` feed the sales figures (message pacts).

The consumer side proves analytics' real decoding (:func:`apps.shop.analytics.events.decode` with the models its
handlers use) reads the events as the pacts describe them; order verifies it emits exactly that
(``apps/shop/order/tests/contracts/test_provider_events.py``). The descriptions and provider states are the ones
notification uses, so order produces each message once for both consumers.
"""

from __future__ import annotations

import pytest
from apps.shop.analytics.events import ORDER_CANCELLED, ORDER_CONFIRMED, OrderCancelled, OrderConfirmed, decode
from pact import match
from pydantic import BaseModel

from baton.delivery.contracts import consumer_pact, publish
from baton.delivery.contracts.fixtures import expect_event, read_events
from baton.events import CloudEvent

pytestmark = pytest.mark.integration


def test_analytics_counts_a_confirmation_and_a_cancellation(contract_store, analytics_version) -> None:
    pact = consumer_pact("analytics", "order")
    expect_event(
        pact,
        "an order confirmation",
        given="an order was confirmed",
        source="order",
        kind=ORDER_CONFIRMED,
        data={
            "order_id": match.str("o-1"),
            "customer_id": match.str("cust-1"),
            "lines": match.each_like(
                {
                    "product_id": match.str("p1"),
                    "quantity": match.int(2),
                    "unit_price_cents": match.int(1000),
                },
                min=1,
            ),
            "total_cents": match.int(2000),
            "currency": match.str("EUR"),
        },
    )
    expect_event(
        pact,
        "an order cancellation",
        given="an order was cancelled",
        source="order",
        kind=ORDER_CANCELLED,
        data={
            "order_id": match.str("o-2"),
            "customer_id": match.str("cust-1"),
            "total_cents": match.int(2000),
            "currency": match.str("EUR"),
            "was_confirmed": match.bool(False),
        },
    )
    read: dict[str, BaseModel] = {}

    def handle(event: CloudEvent) -> None:
        model = {ORDER_CONFIRMED: OrderConfirmed, ORDER_CANCELLED: OrderCancelled}[event.type]
        read[event.type] = decode(model, event)

    read_events(pact, handle)
    confirmed = read[ORDER_CONFIRMED]
    cancelled = read[ORDER_CANCELLED]
    assert isinstance(confirmed, OrderConfirmed)
    assert isinstance(cancelled, OrderCancelled)
    assert (confirmed.lines[0].quantity, confirmed.total_cents, confirmed.customer_id) == (2, 2000, "cust-1")
    assert (cancelled.order_id, cancelled.was_confirmed) == ("o-2", False)
    publish(pact, contract_store, consumer_version=analytics_version)
