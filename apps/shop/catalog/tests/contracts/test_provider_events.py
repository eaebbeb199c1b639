"""Catalog verifies order's message pact: the ``product.price_changed`` event it really emits (read from its
outbox after a price change through its API) must be what order expects."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from apps.shop.catalog.events import PRODUCT_PRICE_CHANGED
from apps.shop.common.testusers import STAFF, USERS

from baton.delivery.contracts import message, service_version, verify_provider
from baton.delivery.contracts.fixtures import require_pacts

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[5]
SHOP = REPO / "apps" / "shop" / "baton.yaml"


async def test_catalog_emits_the_price_change_order_expects(client, outbox_events, contract_store) -> None:
    require_pacts(
        contract_store,
        consumer="order",
        provider="catalog",
        version=service_version(SHOP, "order"),
        tests=REPO / "apps/shop/order/tests/contracts/test_consumer_catalog_events.py",
        cwd=REPO,
    )
    # Provider state "product p-espresso exists": the demo catalog the service seeds at start.
    changed = await client.put(
        "/v1/products/p-espresso/price", json={"price_cents": 1390}, headers=USERS.headers("staff-1", roles=STAFF)
    )
    assert changed.status_code == 200
    emitted = [e for e in await outbox_events() if e.type == PRODUCT_PRICE_CHANGED]
    assert len(emitted) == 1
    produced = emitted[0].to_dict()

    def price_change() -> dict[str, object]:
        return message(produced)

    verdicts = await asyncio.to_thread(
        verify_provider,
        contract_store,
        "catalog",
        service_version(SHOP, "catalog"),
        states={"product p-espresso exists": lambda: None},
        messages={"a product price change": price_change},
        consumers=["order"],
    )
    assert verdicts
    assert all(v.success for v in verdicts), [v.failures for v in verdicts]
