"""Notification ← order: ``order.confirmed`` and ``order.cancelled`` become the customer's e-mails (message pacts).

The consumer side proves notification's real code reads the events as the pacts describe them: each message is
decoded as a CloudEvent and rendered with :func:`apps.shop.notification.service.compose` and the shipped file
templates (what the inbox handler does, minus the hub). Order verifies it emits exactly that
(``apps/shop/order/tests/contracts/test_provider_events.py``).
"""

from __future__ import annotations

import json

import pytest
from apps.shop.notification.events import ORDER_CANCELLED, ORDER_CONFIRMED
from apps.shop.notification.service import compose
from apps.shop.notification.settings import TEMPLATES
from apps.shop.notification.templates import FileTemplates, Rendered
from pact import match

from baton.delivery.contracts import consumer_pact, publish
from baton.events import CloudEvent

pytestmark = pytest.mark.integration


def envelope(kind: str, data: dict[str, object]) -> dict[str, object]:
    """A CloudEvent from order as notification relies on it."""
    return {
        "specversion": "1.0",
        "id": match.str("5f0c7d0e-4c1b-4a8e-9a57-1f1d3e0a9c21"),
        "source": "order",
        "type": kind,
        "subject": match.str("o-1"),
        "data": data,
    }


def test_notification_mails_a_confirmation_and_a_cancellation(contract_store, notification_version) -> None:
    pact = consumer_pact("notification", "order")
    (
        pact.upon_receiving("an order confirmation", "Async")
        .given("an order was confirmed")
        .with_body(
            envelope(
                ORDER_CONFIRMED,
                {
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
            ),
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("an order cancellation", "Async")
        .given("an order was cancelled")
        .with_body(
            envelope(
                ORDER_CANCELLED,
                {
                    "order_id": match.str("o-2"),
                    "email": match.str("ada@example.com"),
                    "reason": match.str("payment declined: card declined"),
                    "total_cents": match.int(2000),
                    "currency": match.str("EUR"),
                    "was_confirmed": match.bool(False),
                },
            ),
            content_type="application/json",
        )
    )
    mails: dict[str, tuple[str, Rendered]] = {}
    templates = FileTemplates(TEMPLATES)

    def handle(body: str | bytes | None, metadata: dict[str, object]) -> None:
        assert body is not None
        event = CloudEvent.from_dict(json.loads(body))
        kind = {ORDER_CONFIRMED: "confirmed", ORDER_CANCELLED: "cancelled"}[event.type]
        mails[kind] = (str(event.data["email"]), compose(kind, event.data, templates))

    pact.verify(handle, "Async")
    assert sorted(mails) == ["cancelled", "confirmed"]
    assert {address for address, _ in mails.values()} == {"ada@example.com"}
    confirmed, cancelled = mails["confirmed"][1], mails["cancelled"][1]
    assert "O-1" in confirmed.subject
    assert "2 x p1" in confirmed.body
    assert "payment declined" in cancelled.body
    publish(pact, contract_store, consumer_version=notification_version)
