"""Order ← catalog: ``product.created`` and ``product.price_changed`` feed order's price read model (message pacts).

The consumer side proves order's real decoding (:func:`apps.shop.order.events._price`, what both inbox handlers
apply) understands the events as the pact describes them; catalog verifies it produces exactly that.
"""

from __future__ import annotations

import json

import pytest
from apps.shop.order.events import PRODUCT_CREATED, PRODUCT_PRICE_CHANGED, _price
from pact import match

from baton.delivery.contracts import consumer_pact, publish
from baton.events import CloudEvent

pytestmark = pytest.mark.integration


def test_order_reads_a_new_product_and_a_price_change(contract_store, order_version) -> None:
    pact = consumer_pact("order", "catalog")
    (
        pact.upon_receiving("a product price change", "Async")
        .given("product p-espresso exists")
        .with_body(
            {
                "specversion": "1.0",
                "id": match.str("1b7c4a52-9a5e-4a3e-a2f8-3c0b0a1d2e3f"),
                "source": "catalog",
                "type": PRODUCT_PRICE_CHANGED,
                "subject": match.str("p-espresso"),
                "data": {
                    "product_id": match.str("p-espresso"),
                    "old_price_cents": match.int(1290),
                    "price_cents": match.int(1390),
                    "currency": match.str("EUR"),
                    "version": match.int(2),
                },
            },
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a new product", "Async")
        .given("no product p-contract yet")
        .with_body(
            {
                "specversion": "1.0",
                "id": match.str("6c1f0a8e-2d4b-4f7a-9e3c-5b8d7a6f4e21"),
                "source": "catalog",
                "type": PRODUCT_CREATED,
                "subject": match.str("p-contract"),
                "data": {
                    "product_id": match.str("p-contract"),
                    "price_cents": match.int(990),
                    "currency": match.str("EUR"),
                    "version": match.int(1),
                },
            },
            content_type="application/json",
        )
    )
    read: dict[str, object] = {}

    def handle(body: str | bytes | None, metadata: dict[str, object]) -> None:
        assert body is not None
        event = CloudEvent.from_dict(json.loads(body))
        assert event.type in (PRODUCT_CREATED, PRODUCT_PRICE_CHANGED)
        read[event.type] = _price(event)

    pact.verify(handle, "Async")
    price, new = read[PRODUCT_PRICE_CHANGED], read[PRODUCT_CREATED]
    assert (price.product_id, price.price_cents, price.currency, price.version) == ("p-espresso", 1390, "EUR", 2)
    assert (new.product_id, new.price_cents, new.currency, new.version) == ("p-contract", 990, "EUR", 1)
    publish(pact, contract_store, consumer_version=order_version)
