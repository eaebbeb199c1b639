"""Order verifies the message pacts of its event consumers — notification and analytics read ``order.confirmed``
and ``order.cancelled`` — against the events it really emits: two checkouts through its API (one paid, one
declined; inventory and payment are the order tests' fakes), then the events its outbox holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from apps.shop.order.service import ORDER_CANCELLED, ORDER_CONFIRMED, service
from order_helpers import cart_with, checkout, final_order
from sqlalchemy import select

from baton.delivery.contracts import message
from baton.delivery.contracts.fixtures import honour_pacts
from baton.events import CloudEvent
from baton.events.tables import outbox

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[5]
SHOP = REPO / "apps" / "shop" / "baton.yaml"
CONSUMERS = {
    "notification": REPO / "apps/shop/notification/tests/contracts/test_consumer_order_events.py",
    "analytics": REPO / "apps/shop/analytics/tests/contracts/test_consumer_order_events.py",
}


async def outbox_events() -> list[CloudEvent]:
    async with service.transaction() as session:
        payloads = (await session.scalars(select(outbox.c.payload).order_by(outbox.c.seq))).all()
    return [CloudEvent.from_json(p) for p in payloads]


async def test_order_emits_the_events_notification_and_analytics_expect(shop, contract_store) -> None:
    # Provider states, reached through order's API as a customer would: a paid checkout and a declined one.
    paid = (await checkout(shop.http, await cart_with(shop.http, ("p1", 2)))).json()["order_id"]
    declined = (await checkout(shop.http, await cart_with(shop.http, ("p1", 1)), card_token="tok_decline")).json()
    assert (await final_order(shop.http, paid))["status"] == "CONFIRMED"
    assert (await final_order(shop.http, declined["order_id"]))["status"] == "CANCELLED"
    events = await outbox_events()
    confirmed = [e.to_dict() for e in events if e.type == ORDER_CONFIRMED]
    cancelled = [e.to_dict() for e in events if e.type == ORDER_CANCELLED]
    assert len(confirmed) == len(cancelled) == 1

    await asyncio.to_thread(
        honour_pacts,
        contract_store,
        provider="order",
        manifest=SHOP,
        consumers=CONSUMERS,
        cwd=REPO,
        states={"an order was confirmed": lambda: None, "an order was cancelled": lambda: None},
        messages={
            "an order confirmation": lambda: message(confirmed[0]),
            "an order cancellation": lambda: message(cancelled[0]),
        },
    )
