"""The inventory as a real process on real NATS JetStream: a reservation left to expire is released by the
sweeper and announced on the stream."""

from __future__ import annotations

import httpx
import nats
import orjson
import pytest
from apps.shop.inventory.events import RESERVATION_EXPIRED

from baton.events.naming import stream_for, subject_for
from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def test_an_expired_reservation_is_released_and_announced(launch_service, nats_url):
    base_url = launch_service(
        "apps.shop.inventory.service:service",
        service="inventory",
        env=dict(BATON_NATS_URL=nats_url, INVENTORY_SWEEP_INTERVAL="0.1"),
    ).url
    body = {
        "reservation_id": "saga-42",
        "order_id": "order-42",
        "lines": [{"product_id": "p-grinder", "quantity": 3}],
        "ttl_seconds": 2,
    }
    async with httpx.AsyncClient(base_url=base_url) as http:
        held = await http.post("/v1/reservations", json=body)
        reserved_while_held = (await http.get("/v1/stock/p-grinder")).json()["reserved"]

        async def expired() -> bool:
            return (await http.get("/v1/reservations/saga-42")).json()["status"] == "expired"

        await wait_until(expired, timeout=10, message="the sweeper expired saga-42")
        stock = (await http.get("/v1/stock/p-grinder")).json()
    observer = await nats.connect(nats_url)
    try:
        jetstream = observer.jetstream()

        async def announced() -> bool:
            try:
                return (await jetstream.stream_info(stream_for(RESERVATION_EXPIRED))).state.messages >= 1
            except nats.js.errors.NotFoundError:
                return False

        await wait_until(announced, timeout=10, message="reservation.expired on JetStream")
        message = await jetstream.get_last_msg(stream_for(RESERVATION_EXPIRED), subject_for(RESERVATION_EXPIRED))
    finally:
        await observer.close()
    event = orjson.loads(message.data)
    assert held.status_code == 201
    assert reserved_while_held == 3
    assert stock == {"product_id": "p-grinder", "on_hand": 1000, "reserved": 0, "available": 1000}
    assert event["type"] == RESERVATION_EXPIRED
    assert event["source"] == "inventory"
    assert event["data"] == {"reservation_id": "saga-42", "order_id": "order-42"}
