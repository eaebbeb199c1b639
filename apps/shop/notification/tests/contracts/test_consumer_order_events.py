"""Notification ← order: ``order.confirmed`` and ``order.cancelled`` become the customer's e-mails (message pacts).

The consumer side proves notification's real code reads the events as the pacts describe them: each message is
decoded as a CloudEvent and rendered with :func:`apps.shop.notification.service.compose` and the shipped file
templates (what the inbox handler does, minus the hub). Order verifies it emits exactly that
(``apps/shop/order/tests/contracts/test_provider_events.py``).
"""

from __future__ import annotations

import pytest
from apps.shop.notification.events import ORDER_CANCELLED, ORDER_CONFIRMED
from apps.shop.notification.service import compose
from apps.shop.notification.settings import TEMPLATES
from apps.shop.notification.templates import FileTemplates, Rendered
from pact import match

from baton.delivery.contracts import consumer_pact, publish
from baton.delivery.contracts.fixtures import expect_event, read_events
from baton.events import CloudEvent

pytestmark = pytest.mark.integration


def test_notification_mails_a_confirmation_and_a_cancellation(contract_store, notification_version) -> None:
    pact = consumer_pact("notification", "order")
    expect_event(
        pact,
        "an order confirmation",
        given="an order was confirmed",
        source="order",
        kind=ORDER_CONFIRMED,
        data={
            "order_id": match.str("o-1"),
            "email": match.str("ada@example.com"),
            "lines": match.each_like(
                {
                    "product_id": match.str("p1"),
                    "quantity": match.int(2),
                    "unit_price_cents": match.int(1000),
                },
                min=1,
            ),
            "total_cents": match.int(2000),
            "currency": match.str("EUR"),
        },
        subject=match.str("o-1"),
    )
    expect_event(
        pact,
        "an order cancellation",
        given="an order was cancelled",
        source="order",
        kind=ORDER_CANCELLED,
        data={
            "order_id": match.str("o-2"),
            "email": match.str("ada@example.com"),
            "reason": match.str("payment declined: card declined"),
            "total_cents": match.int(2000),
            "currency": match.str("EUR"),
            "was_confirmed": match.bool(False),
        },
        subject=match.str("o-1"),
    )
    mails: dict[str, tuple[str, Rendered]] = {}
    templates = FileTemplates(TEMPLATES)

    def handle(event: CloudEvent) -> None:
        kind = {ORDER_CONFIRMED: "confirmed", ORDER_CANCELLED: "cancelled"}[event.type]
        mails[kind] = (str(event.data["email"]), compose(kind, event.data, templates))

    read_events(pact, handle)
    assert sorted(mails) == ["cancelled", "confirmed"]
    assert {address for address, _ in mails.values()} == {"ada@example.com"}
    confirmed, cancelled = mails["confirmed"][1], mails["cancelled"][1]
    assert "O-1" in confirmed.subject
    assert "2 x p1" in confirmed.body
    assert "payment declined" in cancelled.body
    publish(pact, contract_store, consumer_version=notification_version)
