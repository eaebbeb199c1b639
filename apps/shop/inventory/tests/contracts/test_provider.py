"""Inventory verifies order's pact: every interaction replayed against a real inventory process, with provider
states set through its own staff API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from apps.shop.common.testusers import STAFF, USERS

from baton.delivery.contracts import service_version, verify_provider
from baton.delivery.contracts.fixtures import require_pacts

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[5]
SHOP = REPO / "apps" / "shop" / "baton.yaml"
STAFF_HEADERS = USERS.headers("staff-1", roles=STAFF)


def states(url: str) -> dict[str, object]:
    """Provider states by name, reached through the inventory's API (as a stock clerk would)."""

    def available(units: int) -> None:
        stock = httpx.get(f"{url}/v1/stock/p-1", timeout=5)
        reserved = stock.json()["reserved"] if stock.status_code == 200 else 0
        httpx.put(
            f"{url}/v1/stock/p-1", json={"on_hand": reserved + units}, headers=STAFF_HEADERS, timeout=5
        ).raise_for_status()

    def held() -> None:
        available(10)
        body = {"reservation_id": "r-held", "order_id": "o-held", "lines": [{"product_id": "p-1", "quantity": 1}]}
        httpx.post(f"{url}/v1/reservations", json=body, timeout=5).raise_for_status()

    return {
        "product p-1 has 10 units in stock": lambda: available(10),
        "product p-1 has 0 units in stock": lambda: available(0),
        "reservation r-held is held": held,
    }


def test_inventory_honours_the_order_pact(launch_service, nats_url, contract_store) -> None:
    order = service_version(SHOP, "order")
    require_pacts(
        contract_store,
        consumer="order",
        provider="inventory",
        version=order,
        tests=REPO / "apps/shop/order/tests/contracts/test_consumer_inventory.py",
        cwd=REPO,
    )
    inventory = launch_service(
        "apps.shop.inventory.service:service", service="inventory", env={"BATON_NATS_URL": nats_url}
    )
    verdicts = verify_provider(
        contract_store,
        "inventory",
        service_version(SHOP, "inventory"),
        url=inventory.url,
        states=states(inventory.url),
        consumers=["order"],
    )
    assert verdicts
    assert all(v.success for v in verdicts), [v.failures for v in verdicts]
