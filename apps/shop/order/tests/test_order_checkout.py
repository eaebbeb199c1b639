"""The checkout saga against fake peers: every way it can end, and what each end leaves behind."""

from __future__ import annotations

import asyncio
import time

import orjson
from apps.shop.order import events, wiring
from apps.shop.order.models import orders
from apps.shop.order.service import place_order, service
from order_helpers import cart_with, checkout, final_order
from sqlalchemy import func, select

from baton.events import CloudEvent
from baton.events.tables import outbox
from baton.saga.tables import saga_table
from baton.testing import wait_until


async def emitted(order_id: str) -> list[tuple[str, dict]]:
    async with service.transaction() as session:
        rows = (await session.execute(select(outbox))).mappings().all()
    found = []
    for row in rows:
        text = str(dict(row))
        if order_id in text:
            payload = next(v for v in row.values() if isinstance(v, (bytes, str)) and "specversion" in str(v))
            event = orjson.loads(payload)
            found.append((event["type"], event["data"]))
    return found


async def saga_steps(http, order_id: str) -> list[tuple[str, str]]:
    history = (await http.get(f"/v1/sagas/{order_id}")).json()
    return [(e["kind"], e["step"]) for e in history["entries"] if e["kind"].endswith("succeeded")]


async def test_all_steps_succeed_and_the_order_is_confirmed(shop):
    cart_id = await cart_with(shop.http, ("p1", 2), ("p2", 1), customer_id="cust-1")
    order_id = (await checkout(shop.http, cart_id, customer_id="cust-1")).json()["order_id"]
    order = await final_order(shop.http, order_id)
    assert order["status"] == "CONFIRMED"
    assert order["saga"]["status"] == "completed"
    assert shop.stock.on_hand == {"p1": 8, "p2": 4}
    assert shop.stock.reserved == {"p1": 0, "p2": 0}
    assert shop.payments.payments[order_id]["status"] == "captured"
    assert shop.payments.total("captured") == order["total_cents"] == 2250
    assert await emitted(order_id) == [
        (
            "shop.order.order.confirmed.v1",
            {
                "order_id": order_id,
                "customer_id": "cust-1",
                "email": "ada@example.com",
                "lines": [
                    {"product_id": "p1", "quantity": 2, "unit_price_cents": 1000},
                    {"product_id": "p2", "quantity": 1, "unit_price_cents": 250},
                ],
                "total_cents": 2250,
                "currency": "EUR",
            },
        )
    ]
    assert [step for _, step in await saga_steps(shop.http, order_id)] == [
        "open_order",
        "reserve_stock",
        "authorize_payment",
        "capture_payment",
        "confirm_order",
    ]


async def test_a_declined_payment_releases_the_stock_and_cancels(shop):
    cart_id = await cart_with(shop.http, ("p1", 3))
    order_id = (await checkout(shop.http, cart_id, card_token="tok_decline")).json()["order_id"]
    order = await final_order(shop.http, order_id)
    assert order["status"] == "CANCELLED"
    assert order["reason"].startswith("payment declined")
    assert order["saga"]["status"] == "compensated"
    assert shop.stock.on_hand["p1"] == 10
    assert shop.stock.reserved["p1"] == 0
    assert shop.stock.reservations[order_id]["status"] == "released"
    assert shop.payments.payments[order_id]["status"] == "declined"
    events_out = await emitted(order_id)
    assert [t for t, _ in events_out] == ["shop.order.order.cancelled.v1"]
    assert events_out[0][1]["reason"] == order["reason"]
    assert events_out[0][1]["was_confirmed"] is False


async def test_a_failure_after_capture_refunds_releases_and_cancels(shop):
    shop.stock.refuse_commit = True
    cart_id = await cart_with(shop.http, ("p2", 2))
    order_id = (await checkout(shop.http, cart_id)).json()["order_id"]
    order = await final_order(shop.http, order_id)
    assert order["status"] == "CANCELLED"
    assert "reservation not committed" in order["reason"]
    assert shop.payments.payments[order_id]["status"] == "refunded"
    assert shop.payments.total("captured") == 0
    assert (shop.stock.on_hand["p2"], shop.stock.reserved["p2"]) == (5, 0)
    assert [t for t, _ in await emitted(order_id)] == ["shop.order.order.cancelled.v1"]


async def test_short_stock_cancels_without_touching_the_payment(shop):
    cart_id = await cart_with(shop.http, ("p2", 6))
    order_id = (await checkout(shop.http, cart_id)).json()["order_id"]
    order = await final_order(shop.http, order_id)
    assert order["status"] == "CANCELLED"
    assert order["reason"].startswith("stock not available")
    assert shop.payments.calls == []
    assert shop.stock.reserved.get("p2", 0) == 0


async def test_transient_peer_failures_are_retried_not_compensated(shop):
    shop.stock.fail_next = 2
    cart_id = await cart_with(shop.http, ("p1", 1))
    order_id = (await checkout(shop.http, cart_id)).json()["order_id"]
    order = await final_order(shop.http, order_id)
    assert order["status"] == "CONFIRMED"
    assert [c for c in shop.stock.calls if c[0] == "reserve"] == [("reserve", order_id)] * 3


async def test_an_expired_reservation_makes_the_saga_compensate(shop):
    shop.stock.gate = asyncio.Event()
    cart_id = await cart_with(shop.http, ("p1", 4))
    order_id = (await checkout(shop.http, cart_id)).json()["order_id"]
    await wait_until(lambda: order_id in shop.stock.reservations, message="stock never reserved")
    # Inventory's sweeper expires the reservation and says so; then the saga carries on.
    shop.stock.expire(order_id)
    expired = CloudEvent.create(
        type=events.RESERVATION_EXPIRED, source="inventory", data={"reservation_id": order_id, "order_id": order_id}
    )
    async with service.transaction() as session:
        await events.on_reservation_expired(expired, session)
    shop.stock.gate.set()
    order = await final_order(shop.http, order_id)
    assert order["status"] == "CANCELLED"
    assert order["reason"] == "reservation expired before checkout completed"
    assert shop.payments.calls == []
    assert (shop.stock.on_hand["p1"], shop.stock.reserved["p1"]) == (10, 0)


async def test_the_order_and_its_saga_commit_together(shop):
    # A draining instance used to commit the order and then fail to start its saga (an orphan for the sweeper):
    # the saga is now written in the order's transaction, unleased, for any peer to drive.
    await wiring.sagas.orchestrator.drain()
    cart_id = await cart_with(shop.http, ("p1", 1), customer_id="cust-1")
    placed = await checkout(shop.http, cart_id, customer_id="cust-1")
    assert placed.status_code == 202, placed.text
    record = await wiring.sagas.store.get(placed.json()["order_id"])
    assert record.owner is None
    assert record.data["lines"] == [{"product_id": "p1", "quantity": 1}]

    theirs = await cart_with(shop.http, ("p1", 1), customer_id="cust-2")
    refused = await checkout(shop.http, theirs, customer_id="cust-1", key="refused-1")
    assert refused.status_code == 404  # someone else's cart: the order and its saga roll back together
    async with service.transaction() as session:
        sagas = await session.scalar(select(func.count()).select_from(saga_table))
        orders_now = await session.scalar(select(func.count()).select_from(orders))
    assert sagas == orders_now == 1


async def test_an_order_whose_saga_never_started_is_picked_up(shop):
    cart_id = await cart_with(shop.http, ("p1", 1))
    # What a crash between committing the order and starting its saga leaves behind.
    async with service.transaction() as session:
        await place_order(session, order_id="orphan-1", cart_id=cart_id, email="ada@example.com", card_token="tok_visa")
    started = time.monotonic()
    final = await final_order(shop.http, "orphan-1")
    assert final["status"] == "CONFIRMED"
    assert time.monotonic() - started < 5
    assert shop.payments.payments["orphan-1"]["status"] == "captured"


async def test_many_concurrent_checkouts_conserve_stock_and_money(shop):
    shop.stock.on_hand = {"p1": 1000, "p2": 1000}
    carts = [await cart_with(shop.http, ("p1", 1), ("p2", n % 3 + 1)) for n in range(20)]
    tokens = ["tok_decline" if n % 5 == 0 else "tok_visa" for n in range(20)]
    accepted = await asyncio.gather(*(checkout(shop.http, c, card_token=t) for c, t in zip(carts, tokens, strict=True)))
    orders = [await final_order(shop.http, a.json()["order_id"], timeout=20) for a in accepted]
    confirmed = [o for o in orders if o["status"] == "CONFIRMED"]
    assert len(confirmed) == 16
    assert sum(o["status"] == "CANCELLED" for o in orders) == 4
    assert shop.payments.total("captured") == sum(o["total_cents"] for o in confirmed)
    sold = {"p1": 0, "p2": 0}
    for o in confirmed:
        for line in o["lines"]:
            sold[line["product_id"]] += line["quantity"]
    assert shop.stock.reserved == {"p1": 0, "p2": 0}
    assert shop.stock.on_hand == {"p1": 1000 - sold["p1"], "p2": 1000 - sold["p2"]}
