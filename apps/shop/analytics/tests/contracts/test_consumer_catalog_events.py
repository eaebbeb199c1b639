"""Analytics ← catalog: ``product.created`` names the products of the sales report (a message pact).

The consumer side proves analytics' real decoding (:func:`apps.shop.analytics.events.decode` with
:class:`~apps.shop.analytics.events.ProductCreated`, what the inbox handler does) reads the event as the pact
describes it; catalog verifies it emits exactly that (``apps/shop/catalog/tests/contracts/test_provider_events.py``).
The description and provider state are the ones order uses, so catalog produces the message once for both.
"""

from __future__ import annotations

import json

import pytest
from apps.shop.analytics.events import PRODUCT_CREATED, ProductCreated, decode
from pact import match

from baton.delivery.contracts import consumer_pact, publish
from baton.events import CloudEvent

pytestmark = pytest.mark.integration


def test_analytics_names_a_new_product(contract_store, analytics_version) -> None:
    pact = consumer_pact("analytics", "catalog")
    (
        pact.upon_receiving("a new product", "Async")
        .given("no product p-contract yet")
        .with_body(
            {
                "specversion": "1.0",
                "id": match.str("6c1f0a8e-2d4b-4f7a-9e3c-5b8d7a6f4e21"),
                "source": "catalog",
                "type": PRODUCT_CREATED,
                "data": {"product_id": match.str("p-contract"), "name": match.str("Contract Blend")},
            },
            content_type="application/json",
        )
    )
    read: list[ProductCreated] = []

    def handle(body: str | bytes | None, metadata: dict[str, object]) -> None:
        assert body is not None
        read.append(decode(ProductCreated, CloudEvent.from_dict(json.loads(body))))

    pact.verify(handle, "Async")
    assert [(p.product_id, p.name) for p in read] == [("p-contract", "Contract Blend")]
    publish(pact, contract_store, consumer_version=analytics_version)
