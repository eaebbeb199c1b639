"""Analytics ← catalog: ``product.created`` names the products of the sales report (a message pact).

The consumer side proves analytics' real decoding (:func:`apps.shop.analytics.events.decode` with
:class:`~apps.shop.analytics.events.ProductCreated`, what the inbox handler does) reads the event as the pact
describes it; catalog verifies it emits exactly that (``apps/shop/catalog/tests/contracts/test_provider_events.py``).
The description and provider state are the ones order uses, so catalog produces the message once for both.
"""

from __future__ import annotations

import pytest
from apps.shop.analytics.events import PRODUCT_CREATED, ProductCreated, decode
from pact import match

from baton.delivery.contracts import consumer_pact, publish
from baton.delivery.contracts.fixtures import expect_event, read_events

pytestmark = pytest.mark.integration


def test_analytics_names_a_new_product(contract_store, analytics_version) -> None:
    pact = consumer_pact("analytics", "catalog")
    expect_event(
        pact,
        "a new product",
        given="no product p-contract yet",
        source="catalog",
        kind=PRODUCT_CREATED,
        data={"product_id": match.str("p-contract"), "name": match.str("Contract Blend")},
    )
    read: list[ProductCreated] = []

    read_events(pact, lambda event: read.append(decode(ProductCreated, event)))
    assert [(p.product_id, p.name) for p in read] == [("p-contract", "Contract Blend")]
    publish(pact, contract_store, consumer_version=analytics_version)
