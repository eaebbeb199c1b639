"""The analytics projection: handlers called directly (they are plain functions), the HTTP reports, and
redeliveries through a real inbox on the in-memory bus counted once."""

from __future__ import annotations

import pytest
from apps.shop.analytics.events import on_order_cancelled, on_order_confirmed, on_product_created
from apps.shop.analytics.service import service
from apps.shop.common.testusers import USERS

from baton.errors import EventError
from baton.events import EventRuntime
from baton.testing import wait_until
from baton.testing.memory_bus import MemoryBus

HANDLERS = {
    "shop.catalog.product.created.v1": on_product_created,
    "shop.order.order.confirmed.v1": on_order_confirmed,
    "shop.order.order.cancelled.v1": on_order_cancelled,
}


async def handle(*events) -> None:
    for event in events:
        async with service.transaction() as session:
            await HANDLERS[event.type](event, session)


async def reports(client) -> tuple[list[dict], dict, dict]:
    products = (await client.get("/v1/sales/products")).json()
    revenue = (await client.get("/v1/sales/revenue")).json()
    loyalty = (await client.get("/v1/loyalty/cust-1")).json()
    return products["items"], revenue, loyalty


async def test_confirmed_orders_make_sales_revenue_and_points(client, events):
    await handle(
        events.product_created("p-mug", "Ceramic Mug"),
        events.confirmed("o-1", ("p-mug", 2, 1290), ("p-espresso", 1, 1490)),  # 40.70 EUR
        events.confirmed("o-2", ("p-mug", 1, 1290), ("p-mug", 1, 1290)),  # 25.80 EUR
        events.confirmed("o-3", ("p-espresso", 1, 1490), customer="cust-2"),
    )
    products, revenue, loyalty = await reports(client)
    assert products == [
        {"product_id": "p-mug", "name": "Ceramic Mug", "orders": 2, "units": 4, "revenue_cents": 5160},
        {"product_id": "p-espresso", "name": None, "orders": 2, "units": 2, "revenue_cents": 2980},
    ]
    assert revenue == {"revenue_cents": 8140, "currency": "EUR", "confirmed_orders": 3, "cancelled_orders": 0}
    assert loyalty == {"customer_id": "cust-1", "points": 40 + 25, "confirmed_orders": 2}  # whole EUR per order


async def test_a_cancellation_after_confirmation_takes_revenue_and_points_back(client, events):
    await handle(
        events.confirmed("o-1", ("p-mug", 2, 1290)),
        events.confirmed("o-2", ("p-grinder", 1, 8990)),
        events.cancelled("o-2", 8990, was_confirmed=True),
        events.cancelled("o-3", 1490, was_confirmed=False),  # never confirmed: counted, earns nothing
    )
    products, revenue, loyalty = await reports(client)
    assert [p["product_id"] for p in products] == ["p-mug"]
    assert revenue == {"revenue_cents": 2580, "currency": "EUR", "confirmed_orders": 1, "cancelled_orders": 2}
    assert loyalty == {"customer_id": "cust-1", "points": 25, "confirmed_orders": 1}


async def test_a_cancellation_that_overtakes_its_confirmation_still_wins(client, events):
    await handle(events.cancelled("o-1", 2580, was_confirmed=True), events.confirmed("o-1", ("p-mug", 2, 1290)))
    products, revenue, loyalty = await reports(client)
    assert products == []
    assert revenue["revenue_cents"] == 0
    assert revenue["cancelled_orders"] == 1
    assert loyalty["points"] == 0


async def test_repeating_an_event_changes_nothing(client, events):
    confirmed = events.confirmed("o-1", ("p-mug", 2, 1290))
    cancelled = events.cancelled("o-1", 2580, was_confirmed=True)
    await handle(confirmed, confirmed)
    after_confirm = await reports(client)
    await handle(cancelled, cancelled, confirmed)
    after_cancel = await reports(client)
    assert after_confirm[0] == [{"product_id": "p-mug", "name": None, "orders": 1, "units": 2, "revenue_cents": 2580}]
    assert after_confirm[2]["points"] == 25
    assert after_cancel[1]["cancelled_orders"] == 1
    assert after_cancel[1]["revenue_cents"] == after_cancel[2]["points"] == 0


async def test_guests_earn_no_points_but_their_orders_count(client, events):
    await handle(events.confirmed("o-1", ("p-mug", 1, 1290), customer=None))
    _, revenue, loyalty = await reports(client)
    assert revenue["confirmed_orders"] == 1
    assert loyalty == {"customer_id": "cust-1", "points": 0, "confirmed_orders": 0}


@pytest.mark.parametrize(
    "data",
    [
        {"order_id": "o-1"},
        {"order_id": "o-1", "lines": [{"product_id": "p", "quantity": 0, "unit_price_cents": 1}]},
        None,
    ],
)
async def test_a_payload_off_contract_is_an_event_error_and_records_nothing(running, events, data):
    _, client = running
    valid = events.confirmed("o-1", ("p-mug", 1, 1290))
    broken = type(valid)(id=valid.id, source=valid.source, type=valid.type, data=data)
    with pytest.raises(EventError, match="does not match the contract"):
        await handle(broken)
    assert (await client.get("/v1/sales/revenue")).json()["confirmed_orders"] == 0


async def test_redeliveries_through_the_inbox_are_counted_once(running, events):
    ctx, client = running
    bus = MemoryBus()
    runtime = EventRuntime(service.events.handlers, service="analytics", bus=bus, relay=False)
    await runtime.start(ctx)
    try:
        confirmed = events.confirmed("o-1", ("p-mug", 2, 1290))
        await bus.publish([events.product_created("p-mug", "Ceramic Mug"), confirmed])

        async def counted() -> bool:
            return (await client.get("/v1/sales/revenue")).json()["confirmed_orders"] == 1

        await wait_until(counted, message="order.confirmed projected")
        # The same event again, past the broker's duplicate window: only the inbox can stop it now.
        bus.publish_raw(confirmed.stream, confirmed.nats_subject, confirmed.to_json(), confirmed.id)
        inbox = next(i for key, i in runtime.inboxes.items() if key.startswith("SHOP_ORDER/"))
        await wait_until(lambda: inbox.stats.duplicates == 1, message="the redelivery reached the inbox")
        products = (await client.get("/v1/sales/products")).json()["items"]
    finally:
        await runtime.stop()
    assert products == [{"product_id": "p-mug", "name": "Ceramic Mug", "orders": 1, "units": 2, "revenue_cents": 2580}]
    assert inbox.stats.handled == 1


async def test_sales_are_for_staff_and_loyalty_for_its_customer(client):
    customer = USERS.headers("cust-1")
    assert (await client.get("/v1/sales/revenue", headers=customer)).status_code == 403
    assert (await client.get("/v1/sales/products", headers={"Authorization": ""})).status_code == 401
    assert (await client.get("/v1/loyalty/cust-1", headers=customer)).json()["customer_id"] == "cust-1"
    assert (await client.get("/v1/loyalty/cust-2", headers=customer)).status_code == 404
