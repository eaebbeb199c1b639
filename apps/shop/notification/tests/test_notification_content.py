"""E-mail templates from the content hub, with real processes (hub, notification, mail sink) on real NATS:
``order.confirmed`` events driven onto JetStream become e-mails; publishing a new template in the hub changes the
next e-mail within a second or two with no restart; with the hub dead, the cached template and the file
templates keep e-mails flowing."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import nats
import pytest
from apps.shop.common.testusers import STAFF, USERS

from baton.events import CloudEvent
from baton.events.jetstream import JetStreamBus
from baton.events.server import free_port
from baton.testing import wait_until

pytestmark = pytest.mark.integration

READ_TOKEN = "ro-" + "n" * 24
FULL_TOKEN = "fa-" + "n" * 24
CONFIRMED = "shop.order.order.confirmed.v1"
CANCELLED = "shop.order.order.cancelled.v1"
NEW_SUBJECT = "Order ${order_ref}: on its way"


def _order(email: str) -> dict:
    return {
        "order_id": uuid.uuid4().hex,
        "customer_id": "c-1",
        "email": email,
        "lines": [{"product_id": "p-mug", "quantity": 1, "unit_price_cents": 1290}],
        "total_cents": 1290,
        "currency": "EUR",
        "reason": "payment declined",
        "was_confirmed": False,
    }


async def test_publishing_a_template_in_the_hub_changes_the_next_email(launch_service, nats_url):
    hub = launch_service(
        "apps.shop.content.service:service",
        service="content",
        env={"BATON_NATS_URL": nats_url, "CONTENT_API_TOKENS": f"read-only:{READ_TOKEN},full-access:{FULL_TOKEN}"},
    )
    smtp_port = free_port()
    sink = launch_service(
        "apps.shop.mailsink.service:service",
        service="mailsink",
        env={"MAILSINK_SMTP_PORT": str(smtp_port), "SHOP_USER_JWKS": USERS.jwks_json()},  # its list is staff-only
    )
    launch_service(
        "apps.shop.notification.service:service",
        service="notification",
        env={
            "BATON_NATS_URL": nats_url,
            "BATON_SERVICE_URLS": json.dumps({"content": hub.url}),
            "NOTIFICATION_CONTENT_TOKEN": READ_TOKEN,
            "NOTIFICATION_SMTP_PORT": str(smtp_port),
            "NOTIFICATION_POLL_INTERVAL": "0.05",
        },
    )
    nc = await nats.connect(nats_url)
    bus = JetStreamBus(nc)
    sent_at: list[float] = []

    async def email(kind: str = CONFIRMED) -> str:
        """Drive an order event onto JetStream; the subject of the e-mail it becomes."""
        data = _order(f"shopper{len(sent_at)}@example.test")
        sent_at.append(time.monotonic())
        await bus.publish([CloudEvent.create(type=kind, source="order", data=data, subject=data["order_id"])])

        async def arrived() -> str | None:
            items = (await sink_http.get("/v1/messages", params={"to": data["email"]})).json()["items"]
            return items[0]["subject"] if items else None

        return await wait_until(arrived, timeout=15, message=f"the e-mail to {data['email']}")

    try:
        async with (
            httpx.AsyncClient(base_url=sink.url, headers=USERS.headers("staff-1", roles=STAFF)) as sink_http,
            httpx.AsyncClient(base_url=hub.url, headers={"Authorization": f"Bearer {FULL_TOKEN}"}) as editor,
        ):
            before = await email()
            found = await editor.get("/api/email-templates", params={"filters[name][$eq]": "order-confirmed"})
            document_id = found.json()["data"][0]["documentId"]
            changed = await editor.put(f"/api/email-templates/{document_id}", json={"data": {"subject": NEW_SUBJECT}})
            assert changed.status_code == 200
            published_at = time.monotonic()
            # Each e-mail is composed when its event is handled; the first composed after the content event
            # arrived carries the new subject. Send one at a time until it shows.
            subjects = [await email()]
            while not subjects[-1].startswith("Order ") and time.monotonic() - published_at < 5:
                subjects.append(await email())
            took = sent_at[-1] - published_at  # from the publish to the event whose e-mail changed
            after = await email()

            hub.kill()
            cached = await email()  # the template read before the hub died is still cached
            cancelled = await email(CANCELLED)  # never read from the hub: the file template
    finally:
        await nc.close()
    assert before.endswith(" is confirmed")
    assert subjects[-1].startswith("Order ")
    assert subjects[-1].endswith(": on its way")
    assert took < 2.0, f"the new template showed after {took:.2f}s: {subjects}"
    assert after.startswith("Order ")
    assert cached.startswith("Order ")
    assert cancelled.endswith(" was cancelled")
