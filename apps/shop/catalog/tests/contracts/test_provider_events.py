"""Catalog verifies its consumers' message pacts: the ``product.price_changed`` and ``product.created`` events it
really emits (read from its outbox after a price change and a new product through its API) must be what order and
analytics expect."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from apps.shop.catalog.events import PRODUCT_CREATED, PRODUCT_PRICE_CHANGED
from apps.shop.common.testusers import STAFF, USERS

from baton.delivery.contracts import message
from baton.delivery.contracts.fixtures import honour_pacts

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[5]
SHOP = REPO / "apps" / "shop" / "baton.yaml"


async def test_catalog_emits_the_events_order_and_analytics_expect(client, outbox_events, contract_store) -> None:
    # Provider state "product p-espresso exists": the demo catalog the service seeds at start.
    changed = await client.put(
        "/v1/products/p-espresso/price", json={"price_cents": 1390}, headers=USERS.headers("staff-1", roles=STAFF)
    )
    assert changed.status_code == 200
    emitted = [e for e in await outbox_events() if e.type == PRODUCT_PRICE_CHANGED]
    assert len(emitted) == 1
    produced = emitted[0].to_dict()

    # Provider state "no product p-contract yet": staff add it through the API.
    added = await client.post(
        "/v1/products",
        json={
            "id": "p-contract",
            "sku": "CON-TRACT-1",
            "name": "Contract Blend",
            "price_cents": 990,
            "category_id": "c-coffee",
        },
        headers=USERS.headers("staff-1", roles=STAFF),
    )
    assert added.status_code == 201, added.text
    created = [e for e in await outbox_events() if e.type == PRODUCT_CREATED and e.subject == "p-contract"]
    assert len(created) == 1
    new_product = created[0].to_dict()

    def price_change() -> dict[str, object]:
        return message(produced)

    def product_created() -> dict[str, object]:
        return message(new_product)

    await asyncio.to_thread(
        honour_pacts,
        contract_store,
        provider="catalog",
        manifest=SHOP,
        consumers={
            "order": REPO / "apps/shop/order/tests/contracts/test_consumer_catalog_events.py",
            "analytics": REPO / "apps/shop/analytics/tests/contracts/test_consumer_catalog_events.py",
        },
        cwd=REPO,
        states={"product p-espresso exists": lambda: None, "no product p-contract yet": lambda: None},
        messages={"a product price change": price_change, "a new product": product_created},
    )
