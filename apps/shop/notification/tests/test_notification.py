"""Notification: templates, one owed e-mail per order and kind, and the sender's send/retry/lease cycle."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP
from apps.shop.common.testusers import STAFF, USERS
from apps.shop.notification.events import on_order_cancelled, on_order_confirmed, templates
from apps.shop.notification.mailer import MemoryMailer
from apps.shop.notification.sender import retry_delay, sender
from apps.shop.notification.service import (
    Notification,
    claim_due,
    compose,
    email_of,
    list_notifications,
    money,
    service,
)

from baton.events import CloudEvent
from baton.kit import InstanceSettings
from baton.testing import wait_until

CONFIRMED = {
    "order_id": "a1b2c3d4e5f6",
    "customer_id": "cust-1",
    "email": "ada@example.test",
    "lines": [{"product_id": "p-1", "quantity": 2, "unit_price_cents": 1250}],
    "total_cents": 2500,
    "currency": "EUR",
}
CANCELLED = {**CONFIRMED, "reason": "payment declined", "was_confirmed": False}


def _event(type_: str, data: dict) -> CloudEvent:
    return CloudEvent.create(type=type_, source="order", data=data, subject=data["order_id"])


@pytest.fixture
async def running(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NOTIFICATION_POLL_INTERVAL", "3600")  # the test drives the sender itself
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)):
        yield service
    service.reload_settings()


@pytest.mark.parametrize(
    ("cents", "text"), [(0, "0.00 EUR"), (5, "0.05 EUR"), (1999, "19.99 EUR"), (-250, "-2.50 EUR")]
)
def test_money(cents, text):
    assert money(cents, "EUR") == text


def test_confirmation_names_the_order_its_lines_and_total():
    mail = compose("confirmed", CONFIRMED, templates())
    assert mail.subject == "Your order A1B2C3D4 is confirmed"
    assert "2 x p-1  25.00 EUR" in mail.body
    assert "Total: 25.00 EUR" in mail.body


def test_cancellation_gives_the_reason_and_mentions_a_refund_only_after_confirmation():
    plain = compose("cancelled", CANCELLED, templates())
    refunded = compose("cancelled", {**CANCELLED, "was_confirmed": True}, templates())
    assert "(payment declined)" in plain.body
    assert "refunded" not in plain.body
    assert "Your payment has been refunded." in refunded.body


async def test_each_order_and_kind_is_owed_once_however_often_the_event_comes(running):
    async with service.transaction() as session:
        await on_order_confirmed(_event("shop.order.order.confirmed.v1", CONFIRMED), session)
        await on_order_confirmed(_event("shop.order.order.confirmed.v1", CONFIRMED), session)  # a second event
        await on_order_cancelled(_event("shop.order.order.cancelled.v1", CANCELLED), session)
    async with service.transaction() as session:
        owed = await list_notifications(session, order_id=CONFIRMED["order_id"])
    assert sorted(n.kind for n in owed) == ["cancelled", "confirmed"]
    assert {n.status for n in owed} == {"pending"}


async def test_sender_sends_marks_sent_and_retries_failures_later(running):
    mailer = MemoryMailer()
    sender.mailer = mailer
    settings = service.settings
    async with service.transaction() as session:
        await on_order_confirmed(_event("shop.order.order.confirmed.v1", CONFIRMED), session)
    mailer.fail_next = 1
    assert await sender.send_due(settings) == 0
    async with service.transaction() as session:
        [failed] = await list_notifications(session)
    assert failed.status == "pending"
    assert failed.last_error == "simulated failure"
    assert await sender.send_due(settings) == 0  # not due again yet
    assert await sender.send_due(settings, now=failed.created_at + retry_delay(1, cap=60) + 1) == 1
    async with service.transaction() as session:
        [sent] = await list_notifications(session)
    assert sent.status == "sent"
    assert sent.attempts == 2
    assert [m["Message-ID"] for m in mailer.sent] == [sent.message_id]
    assert mailer.sent[0]["To"] == "ada@example.test"


async def test_a_claim_never_marked_sent_falls_due_again_after_its_lease(running):
    async with service.transaction() as session:
        await on_order_confirmed(_event("shop.order.order.confirmed.v1", CONFIRMED), session)
        [owed] = await list_notifications(session)
    now = owed.created_at
    async with service.transaction() as session:
        first = await claim_due(session, now=now, limit=10, lease=30)
        during = await claim_due(session, now=now + 29, limit=10, lease=30)
        after = await claim_due(session, now=now + 31, limit=10, lease=30)
    assert [n.id for n in first] == [owed.id]
    assert during == []
    assert [n.id for n in after] == [owed.id]


def test_retry_delay_doubles_up_to_the_cap():
    assert [retry_delay(n, cap=5) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]


class _Collect:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.original_content)
        return "250 OK"


async def test_over_real_smtp_the_mail_arrives_and_the_api_shows_it_sent(tmp_path: Path, monkeypatch):
    collect = _Collect()
    smtp = await asyncio.get_running_loop().create_server(lambda: SMTP(collect), "127.0.0.1", 0)
    monkeypatch.setenv("NOTIFICATION_SMTP_PORT", str(smtp.sockets[0].getsockname()[1]))
    monkeypatch.setenv("NOTIFICATION_POLL_INTERVAL", "0.05")
    monkeypatch.setenv("SHOP_USER_JWKS", USERS.jwks_json())
    service.reload_settings()
    sender.mailer = None
    try:
        async with service.running(InstanceSettings(home=tmp_path)):
            async with service.transaction() as session:
                await on_order_confirmed(_event("shop.order.order.confirmed.v1", CONFIRMED), session)
            await wait_until(lambda: collect.messages, timeout=10)
            transport = httpx.ASGITransport(app=service.app)
            staff = USERS.headers("staff-1", roles=STAFF)
            async with httpx.AsyncClient(transport=transport, base_url="http://notification", headers=staff) as http:
                listed = await wait_until(
                    lambda: _sent(http, CONFIRMED["order_id"]), timeout=10, message="notification marked sent"
                )
    finally:
        smtp.close()
        service.reload_settings()
    assert len(collect.messages) == 1
    assert b"Subject: Your order A1B2C3D4 is confirmed" in collect.messages[0]
    assert listed[0]["message_id"].encode() in collect.messages[0]


async def _sent(http: httpx.AsyncClient, order_id: str) -> list[dict]:
    items = (await http.get("/v1/notifications", params={"order_id": order_id})).json()["items"]
    return items if items and items[0]["status"] == "sent" else []


async def test_the_recipient_is_sealed_at_rest(running):
    from apps.shop.notification.models import notifications
    from sqlalchemy import select

    async with service.transaction() as session:
        await on_order_confirmed(_event("shop.order.order.confirmed.v1", CONFIRMED), session)
    async with service.transaction() as session:
        [stored] = (await session.execute(select(notifications.c.email))).scalars().all()
        [owed] = await list_notifications(session, order_id=CONFIRMED["order_id"], limit=10)
    assert stored.startswith("enc1:")
    assert CONFIRMED["email"] not in stored
    assert owed.email == CONFIRMED["email"]


def _owed(subject: str, body: str, email: str = "ada@example.test") -> Notification:
    return Notification(
        id="n-1",
        order_id="o-1",
        kind="order-confirmed",
        email=email,
        subject=subject,
        body=body,
        status="pending",
        attempts=0,
        created_at=1_700_000_000.0,
        sent_at=None,
        last_error=None,
    )


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Your order o-1 is confirmed", "Hello Ada,\n\nThanks for your order.\n"),
        ("Votre commande o-1 est confirmée — merci " * 3, "Bonjour Adà,\n\nmerci — 12,90 €\n"),
    ],
    ids=["ascii", "utf-8"],
)
def test_the_email_reads_back_as_written(subject, body):
    message = email_of(_owed(subject, body), from_address="shop@example.test")
    raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))  # as smtplib.send_message flattens it
    read = message_from_bytes(raw, policy=policy.default)
    assert str(read["Subject"]) == subject
    assert read.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n") == body
    headers = (read["To"], read["Message-ID"], read["X-Baton-Order"])
    assert headers == ("ada@example.test", "<n-1@notification.shop.baton>", "o-1")
    assert raw.isascii()  # 7-bit on the wire: encoded-word subject, quoted-printable body
    assert read.is_multipart() is False


@pytest.mark.parametrize(
    "owed",
    [_owed("Hi\r\nBcc: eve@example.test", "x"), _owed("Hi", "x", email="ada@example.test\nBcc: eve@example.test")],
    ids=["subject", "recipient"],
)
def test_a_header_with_a_line_break_is_refused(owed):
    with pytest.raises(ValueError, match="line break"):
        email_of(owed, from_address="shop@example.test")
