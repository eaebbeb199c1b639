"""The shop's other end-to-end promises: price changes reach order's read model, expired reservations are
released, and one Idempotency-Key makes one order however often (and wherever) the checkout is sent."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from apps.shop.common.shopper import Shopper

from baton.cli.demo import DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD
from baton.testing import wait_until

pytestmark = [pytest.mark.integration]


@pytest.fixture
async def http(shop):
    # Instances serve mutual TLS: the operator's certificate and service tokens (the gateway stays plain HTTP).
    async with shop.async_client() as client:
        yield client


@pytest.fixture
async def as_order(shop):
    """A client holding order's identity: inventory takes reservations from order only (baton.yaml allow)."""
    async with shop.async_client(as_service="order") as client:
        yield client


async def test_a_price_change_reaches_the_order_read_model_and_new_carts(shop, http):
    staff = await Shopper(http, gateway=shop.gateway_url).register(DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD)
    public = await staff.fork().register(f"flow-{uuid.uuid4().hex[:8]}@e2e.test", "e2e-password")
    before = await public.price("p-filters")
    changed = await staff.set_price("p-filters", before["price_cents"] + 111)

    async def updated() -> dict | None:
        price = await public.price("p-filters")
        return price if price["version"] >= changed["version"] else None

    price = await wait_until(updated, timeout=20, interval=0.1, message="price in order's read model")
    cart = await public.open_cart()
    lines = (await public.add_item(cart, "p-filters", 1))["items"]
    assert price["price_cents"] == before["price_cents"] + 111
    assert price["version"] == before["version"] + 1
    assert lines[0]["unit_price_cents"] == before["price_cents"] + 111


async def test_an_expired_reservation_is_released(shop, as_order):
    inventory = Shopper(as_order, services={"inventory": shop.url("inventory")})
    product = "p-pour-over"
    before = await inventory.stock(product)
    reservation_id = f"r-{uuid.uuid4().hex}"
    body = {
        "reservation_id": reservation_id,
        "order_id": f"o-{uuid.uuid4().hex}",
        "lines": [{"product_id": product, "quantity": 3}],
        "ttl_seconds": 1,
    }
    held = await inventory.call("inventory", "POST", "/v1/reservations", json=body)
    during = await inventory.stock(product)

    async def released() -> dict | None:
        reservation = await inventory.call("inventory", "GET", f"/v1/reservations/{reservation_id}")
        return reservation if reservation["status"] != "held" else None

    reservation = await wait_until(released, timeout=15, interval=0.1, message="reservation expired")
    after = await inventory.stock(product)
    assert held["status"] == "held"
    assert during["reserved"] == before["reserved"] + 3
    assert reservation["status"] == "expired"
    assert after["reserved"] == before["reserved"]
    assert after["available"] == before["available"]


async def test_duplicate_checkouts_with_one_idempotency_key_make_one_order(shop, http):
    customer = f"dup-{uuid.uuid4().hex[:8]}"
    public = await Shopper(http, gateway=shop.gateway_url).register(f"{customer}@e2e.test", "e2e-password")
    cart = await public.open_cart()
    await public.add_item(cart, "p-mug", 1)
    key = f"checkout-{uuid.uuid4().hex}"
    # The same request of the same customer, at once, through the gateway and straight at each order replica.
    senders = [public] + [public.via(services={"order": url}) for url in shop.urls("order")]
    ids = await asyncio.gather(
        *(
            s.checkout(cart, email=f"{customer}@e2e.test", card_token="tok_visa", key=key)
            for s in senders
            for _ in range(2)
        )
    )
    final = await public.wait_final(ids[0], timeout=30)
    orders = await public.orders()
    assert len(set(ids)) == 1
    assert [o["order_id"] for o in orders] == [ids[0]]
    assert final["status"] in {"CONFIRMED", "CANCELLED"}
