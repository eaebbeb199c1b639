"""Order ← catalog: ``product.created`` and ``product.price_changed`` feed order's price read model (message pacts).

The consumer side proves order's real decoding (:func:`apps.shop.order.events._price`, what both inbox handlers
apply) understands the events as the pact describes them; catalog verifies it produces exactly that.
"""

from __future__ import annotations

import pytest
from apps.shop.order.events import PRODUCT_CREATED, PRODUCT_PRICE_CHANGED, _price
from pact import match

from baton.delivery.contracts import consumer_pact, publish
from baton.delivery.contracts.fixtures import expect_event, read_events
from baton.events import CloudEvent

pytestmark = pytest.mark.integration


def test_order_reads_a_new_product_and_a_price_change(contract_store, order_version) -> None:
    pact = consumer_pact("order", "catalog")
    expect_event(
        pact,
        "a product price change",
        given="product p-espresso exists",
        source="catalog",
        kind=PRODUCT_PRICE_CHANGED,
        data={
            "product_id": match.str("p-espresso"),
            "old_price_cents": match.int(1290),
            "price_cents": match.int(1390),
            "currency": match.str("EUR"),
            "version": match.int(2),
        },
        subject=match.str("p-espresso"),
    )
    expect_event(
        pact,
        "a new product",
        given="no product p-contract yet",
        source="catalog",
        kind=PRODUCT_CREATED,
        data={
            "product_id": match.str("p-contract"),
            "price_cents": match.int(990),
            "currency": match.str("EUR"),
            "version": match.int(1),
        },
        subject=match.str("p-contract"),
    )
    read: dict[str, object] = {}

    def handle(event: CloudEvent) -> None:
        assert event.type in (PRODUCT_CREATED, PRODUCT_PRICE_CHANGED)
        read[event.type] = _price(event)

    read_events(pact, handle)
    price, new = read[PRODUCT_PRICE_CHANGED], read[PRODUCT_CREATED]
    assert (price.product_id, price.price_cents, price.currency, price.version) == ("p-espresso", 1390, "EUR", 2)
    assert (new.product_id, new.price_cents, new.currency, new.version) == ("p-contract", 990, "EUR", 1)
    publish(pact, contract_store, consumer_version=order_version)
