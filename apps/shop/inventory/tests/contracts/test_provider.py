"""Inventory verifies order's pact: every HTTP interaction replayed against a real inventory process, with provider
states set through its own staff API, and the ``reservation.expired`` event read from that process's outbox after a
short-lived reservation expired there."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import httpx
import pytest
from apps.shop.common.testusers import STAFF, USERS
from apps.shop.inventory.events import RESERVATION_EXPIRED

from baton.delivery.contracts import message
from baton.delivery.contracts.fixtures import honour_pacts
from baton.testing import wait_until_sync

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

    def expiring() -> None:
        available(10)
        body = {
            "reservation_id": "r-expiring",
            "order_id": "o-expiring",
            "lines": [{"product_id": "p-1", "quantity": 1}],
            "ttl_seconds": 0.2,
        }
        httpx.post(f"{url}/v1/reservations", json=body, timeout=5).raise_for_status()

    return {
        "product p-1 has 10 units in stock": lambda: available(10),
        "product p-1 has 0 units in stock": lambda: available(0),
        "reservation r-held is held": held,
        "reservation r-expiring has expired": expiring,
    }


def expired_events(home: Path) -> list[dict[str, object]]:
    """The ``reservation.expired`` events of ``r-expiring`` in the outbox of the inventory process at ``home``."""
    found = []
    for database in (home / "data").glob("*.db"):
        with contextlib.closing(sqlite3.connect(database)) as connection:
            rows = connection.execute("SELECT payload FROM baton_outbox ORDER BY seq").fetchall()
        for (payload,) in rows:
            event = json.loads(payload)
            if event["type"] == RESERVATION_EXPIRED and event["data"]["reservation_id"] == "r-expiring":
                found.append(event)
    return found


def test_inventory_honours_the_order_pact(launch_service, nats_url, contract_store) -> None:
    inventory = launch_service(
        "apps.shop.inventory.service:service",
        service="inventory",
        env={"BATON_NATS_URL": nats_url, "INVENTORY_SWEEP_INTERVAL": "0.1"},
    )
    home = Path(inventory.env["BATON_HOME"])

    def reservation_expiry() -> dict[str, object]:
        # The state made a 0.2 s reservation; the process's own sweeper expires it and writes the event.
        events = wait_until_sync(lambda: expired_events(home), timeout=15, message="r-expiring expired")
        return message(events[0])

    honour_pacts(
        contract_store,
        provider="inventory",
        manifest=SHOP,
        consumers={"order": REPO / "apps/shop/order/tests/contracts/test_consumer_inventory.py"},
        cwd=REPO,
        url=inventory.url,
        states=states(inventory.url),
        messages={"a reservation expiry": reservation_expiry},
    )
