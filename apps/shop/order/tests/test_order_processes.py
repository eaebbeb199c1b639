"""The order service with catalog, inventory and payment as real processes on a real NATS server.

Covers what only real processes show: the read model fed by the catalog's events over JetStream, checkouts
through real peers, a checkout surviving ``kill -9`` of the order process mid-saga, and a reservation that
inventory lets expire while the saga waits on a slow payment provider.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from apps.shop.common.testusers import STAFF, USERS
from order_helpers import cart_with, checkout, final_order

from baton.testing import wait_until
from baton.testing.processes import ServiceLauncher, ServiceProcess

# Starting four processes is most of the cost; on a shared 2-core machine it can take a minute.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

STAFF_HEADERS = USERS.headers("staff-1", roles=STAFF)


@dataclass
class Shop:
    """The four services as processes."""

    launcher: ServiceLauncher
    instances: dict[str, ServiceProcess]

    def kill9(self, name: str) -> None:
        self.instances[name].kill()

    async def restart(self, name: str) -> None:
        # Same port, so the same instance id: the restarted order takes its own sagas back at once.
        self.instances[name] = await asyncio.to_thread(self.launcher.restart, self.instances[name], ready_timeout=90)


@pytest.fixture
def system(launch_service: ServiceLauncher, nats_url: str) -> Callable[..., Awaitable[Shop]]:
    """``await system(payment={...}, order={...})`` starts catalog, inventory and payment, then order."""

    async def start(*, payment: dict[str, str] | None = None, order: dict[str, str] | None = None) -> Shop:
        bus = {"BATON_NATS_URL": nats_url}
        envs = {
            "catalog": bus,
            "inventory": {**bus, "INVENTORY_SWEEP_INTERVAL": "0.2"},
            "payment": {**bus, **(payment or {})},
        }

        def launch(name: str, env: dict[str, str]) -> ServiceProcess:
            return launch_service(f"apps.shop.{name}.service:service", service=name, env=env, ready_timeout=90)

        # Peers first (in parallel), so the order's backfill finds the catalog at once; then the order.
        peers = await asyncio.gather(*(asyncio.to_thread(launch, name, env) for name, env in envs.items()))
        instances = dict(zip(envs, peers, strict=True))
        urls = json.dumps({name: instance.url for name, instance in instances.items()})
        order_env = {**bus, "BATON_SERVICE_URLS": urls, **(order or {})}
        instances["order"] = await asyncio.to_thread(launch, "order", order_env)
        return Shop(launch_service, instances)

    return start


async def stock(http: httpx.AsyncClient, system: Shop, product_id: str) -> dict:
    return (await http.get(f"{system.instances['inventory'].url}/v1/stock/{product_id}")).json()


async def test_prices_checkouts_idempotency_and_kill_9_through_real_services(system):
    # One system for all of it: starting four processes costs more than the checks themselves.
    shop = await system(payment={"PAYMENT_LATENCY_MS": "300"})
    order_url, catalog_url = shop.instances["order"].url, shop.instances["catalog"].url
    payment_url = shop.instances["payment"].url
    async with httpx.AsyncClient(base_url=order_url, timeout=10, headers=USERS.headers("cust-1")) as http:
        # The read model was filled from the catalog (backfill, events or both) before the order got ready.
        assert (await http.get("/v1/prices/p-espresso")).json()["price_cents"] == 1490
        before = await stock(http, shop, "p-espresso")

        # A price change travels catalog -> outbox -> JetStream -> order's inbox -> read model.
        changed = await http.put(
            f"{catalog_url}/v1/products/p-mug/price", json={"price_cents": 1590}, headers=STAFF_HEADERS
        )
        assert changed.status_code == 200, changed.text

        async def new_price_arrived() -> bool:
            price = (await http.get("/v1/prices/p-mug")).json()
            return price["price_cents"] == 1590 and price["version"] == 2

        await wait_until(new_price_arrived, timeout=15, message="price change never reached the read model")

        # A checkout, its duplicate (same Idempotency-Key) and a declined one.
        ok_cart = await cart_with(http, ("p-espresso", 2), ("p-mug", 1))
        declined_cart = await cart_with(http, ("p-espresso", 1))
        ok = await checkout(http, ok_cart, key="k-ok")
        duplicate = await checkout(http, ok_cart, key="k-ok")
        declined = await checkout(http, declined_cart, card_token="tok_decline")
        confirmed = await final_order(http, ok.json()["order_id"], timeout=20)
        cancelled = await final_order(http, declined.json()["order_id"], timeout=20)

        assert duplicate.json()["order_id"] == ok.json()["order_id"]
        assert confirmed["status"] == "CONFIRMED"
        assert confirmed["total_cents"] == 2 * 1490 + 1590  # the changed price, from the local read model
        assert cancelled["status"] == "CANCELLED"
        assert cancelled["reason"].startswith("payment declined")
        after = await stock(http, shop, "p-espresso")
        assert (after["on_hand"], after["reserved"]) == (before["on_hand"] - 2, 0)
        captured = (await http.get(f"{payment_url}/v1/payments/{confirmed['order_id']}")).json()
        assert (captured["status"], captured["amount_cents"]) == ("captured", confirmed["total_cents"])
        assert (await http.get(f"{payment_url}/v1/payments/{cancelled['order_id']}")).json()["status"] == "declined"
        assert len((await http.get("/v1/orders")).json()["items"]) == 2

        # kill -9 the order process while its saga waits on the payment provider; the restarted instance
        # (same instance id) takes the saga back and finishes it, without paying or selling twice.
        grinders = await stock(http, shop, "p-grinder")
        cart_id = await cart_with(http, ("p-grinder", 1))
        order_id = (await checkout(http, cart_id)).json()["order_id"]

        async def in_payment() -> bool:
            history = (await http.get(f"/v1/sagas/{order_id}")).json()
            return any(e["kind"] == "step_started" and e["step"] == "authorize_payment" for e in history["entries"])

        await wait_until(in_payment, timeout=10, interval=0.02, message="saga never reached the payment")
        shop.kill9("order")
        await shop.restart("order")

        order = await final_order(http, order_id, timeout=30)
        payment = (await http.get(f"{payment_url}/v1/payments/{order_id}")).json()
        grinders_after = await stock(http, shop, "p-grinder")
    assert order["status"] == "CONFIRMED"
    assert (payment["status"], payment["amount_cents"]) == ("captured", order["total_cents"])
    assert (grinders_after["on_hand"], grinders_after["reserved"]) == (grinders["on_hand"] - 1, 0)


async def test_an_expired_reservation_is_released_and_the_order_cancelled(system):
    # The hold lasts 1 s; the provider takes 1.5 s per operation, so inventory expires it mid-checkout.
    shop = await system(payment={"PAYMENT_LATENCY_MS": "1500"}, order={"ORDER_RESERVATION_TTL_SECONDS": "1"})
    order_url, payment_url = shop.instances["order"].url, shop.instances["payment"].url
    async with httpx.AsyncClient(base_url=order_url, timeout=10, headers=USERS.headers("cust-1")) as http:
        before = await stock(http, shop, "p-moka-pot")
        cart_id = await cart_with(http, ("p-moka-pot", 3))
        order_id = (await checkout(http, cart_id)).json()["order_id"]
        order = await final_order(http, order_id, timeout=30)
        payment = (await http.get(f"{payment_url}/v1/payments/{order_id}")).json()
        reservation = (await http.get(f"{shop.instances['inventory'].url}/v1/reservations/{order_id}")).json()
        after = await stock(http, shop, "p-moka-pot")
    assert order["status"] == "CANCELLED"
    assert "expired" in order["reason"] or "not committed" in order["reason"]
    assert reservation["status"] in ("expired", "released")
    assert payment["status"] in ("voided", "refunded")
    assert after == before
