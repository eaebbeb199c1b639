"""Analytics as a real process on real NATS JetStream: events published on the order and catalog streams
are projected into the reports."""

from __future__ import annotations

import httpx
import nats
import pytest
from apps.shop.common.testusers import STAFF, USERS

from baton.events import JetStreamBus
from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def test_published_order_events_reach_the_reports(launch_service, nats_url, events):
    base_url = launch_service(
        "apps.shop.analytics.service:service", service="analytics", env=dict(BATON_NATS_URL=nats_url)
    ).url
    producer = await nats.connect(nats_url)
    try:
        bus = JetStreamBus(producer)
        await bus.publish(
            [
                events.product_created("p-moka-pot", "Moka Pot"),
                events.confirmed("o-1", ("p-moka-pot", 1, 3490), ("p-filters", 2, 590)),
                events.confirmed("o-2", ("p-moka-pot", 2, 3490), customer="cust-2"),
                events.cancelled("o-2", 6980, was_confirmed=True, customer="cust-2"),
            ]
        )
        async with httpx.AsyncClient(base_url=base_url, headers=USERS.headers("staff-1", roles=STAFF)) as http:

            async def projected() -> bool:
                revenue = (await http.get("/v1/sales/revenue")).json()
                names = {p["name"] for p in (await http.get("/v1/sales/products")).json()["items"]}
                # Two streams, two consumers: wait for the last event of each.
                return revenue["cancelled_orders"] == 1 and "Moka Pot" in names

            await wait_until(projected, timeout=15, message="order and catalog events projected")
            revenue = (await http.get("/v1/sales/revenue")).json()
            products = (await http.get("/v1/sales/products")).json()["items"]
            loyalty = (await http.get("/v1/loyalty/cust-1")).json()
    finally:
        await producer.close()
    assert revenue == {"revenue_cents": 4670, "currency": "EUR", "confirmed_orders": 1, "cancelled_orders": 1}
    assert products == [
        {"product_id": "p-moka-pot", "name": "Moka Pot", "orders": 1, "units": 1, "revenue_cents": 3490},
        {"product_id": "p-filters", "name": None, "orders": 1, "units": 2, "revenue_cents": 1180},
    ]
    assert loyalty == {"customer_id": "cust-1", "points": 46, "confirmed_orders": 1}
