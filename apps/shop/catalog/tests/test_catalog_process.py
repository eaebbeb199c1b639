"""The catalog as a real process on real NATS JetStream: the seed's product.created events and a price change
reach the stream through the outbox relay."""

from __future__ import annotations

import httpx
import nats
import orjson
import pytest
from apps.shop.catalog.events import PRODUCT_CREATED, PRODUCT_PRICE_CHANGED
from apps.shop.common.testusers import STAFF, USERS

from baton.events.naming import stream_for, subject_for
from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def test_a_price_change_reaches_jetstream_after_the_seeded_products(launch_service, nats_url):
    base_url = launch_service(
        "apps.shop.catalog.service:service", service="catalog", env=dict(BATON_NATS_URL=nats_url)
    ).url
    async with httpx.AsyncClient(base_url=base_url) as http:
        changed = await http.put(
            "/v1/products/p-french-press/price",
            json={"price_cents": 2790},
            headers=USERS.headers("staff-1", roles=STAFF),
        )
    assert changed.status_code == 200
    observer = await nats.connect(nats_url)
    try:
        jetstream = observer.jetstream()
        stream = stream_for(PRODUCT_PRICE_CHANGED)

        async def all_published() -> bool:
            try:
                return (await jetstream.stream_info(stream)).state.messages >= 13
            except nats.js.errors.NotFoundError:
                return False

        await wait_until(all_published, timeout=15, message="12 product.created + 1 price_changed on the stream")
        last = await jetstream.get_last_msg(stream, subject_for(PRODUCT_PRICE_CHANGED))
        first_created = await jetstream.get_msg(stream, seq=1)
        info = await jetstream.stream_info(stream)
    finally:
        await observer.close()
    event = orjson.loads(last.data)
    assert info.state.messages == 13
    assert orjson.loads(first_created.data)["type"] == PRODUCT_CREATED
    assert event["type"] == PRODUCT_PRICE_CHANGED
    assert event["source"] == "catalog"
    assert event["subject"] == "p-french-press"
    assert event["data"] == {
        "product_id": "p-french-press",
        "old_price_cents": 2990,
        "price_cents": 2790,
        "currency": "EUR",
        "version": 2,
    }
    assert last.headers["Nats-Msg-Id"] == event["id"]
