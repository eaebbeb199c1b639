"""The sender never writes a recipient's address where operators read: log, span status, stored last error."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

import pytest
from apps.shop.notification.events import on_order_confirmed
from apps.shop.notification.sender import scrubbed, sender
from apps.shop.notification.service import list_notifications, service

from baton.events import CloudEvent
from baton.kit import InstanceSettings

ADDRESS = "grace.hopper@example.test"
CONFIRMED = {
    "order_id": "f00dfacef00d",
    "customer_id": "cust-2",
    "email": ADDRESS,
    "lines": [{"product_id": "p-1", "quantity": 1, "unit_price_cents": 100}],
    "total_cents": 100,
    "currency": "EUR",
}


class RefusingMailer:
    """Refuses every recipient the way smtplib reports it (the address inside the error)."""

    async def send(self, messages: Sequence[EmailMessage]) -> list[str | None]:
        refusals = [
            smtplib.SMTPRecipientsRefused({str(m["To"]): (550, b"5.1.1 <" + str(m["To"]).encode() + b">")})
            for m in messages
        ]
        return [f"refused: {exc}" for exc in refusals]


@pytest.fixture
async def running(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NOTIFICATION_POLL_INTERVAL", "3600")  # the test drives the sender itself
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)):
        yield service
    service.reload_settings()


def test_scrubbed_removes_addresses_in_every_quoting():
    error = f"refused: {{'{ADDRESS}': (550, b'5.1.1 <{ADDRESS}> unknown')}} \"{ADDRESS}\""
    assert ADDRESS not in scrubbed(error)
    assert "@" not in scrubbed(error)
    assert scrubbed("SMTP localhost:25: Connection refused") == "SMTP localhost:25: Connection refused"


async def test_a_refused_recipient_is_logged_by_notification_and_order_id_only(running, caplog):
    sender.mailer = RefusingMailer()
    async with service.transaction() as session:
        event = CloudEvent.create(
            type="shop.order.order.confirmed.v1", source="order", data=CONFIRMED, subject=CONFIRMED["order_id"]
        )
        await on_order_confirmed(event, session)
    with caplog.at_level(logging.WARNING, logger="apps.shop.notification.sender"):
        assert await sender.send_due(service.settings) == 0
    async with service.transaction() as session:
        [failed] = await list_notifications(session)
    [line] = [r.getMessage() for r in caplog.records if r.name == "apps.shop.notification.sender"]
    assert failed.id in line
    assert CONFIRMED["order_id"] in line
    assert "refused" in line
    assert ADDRESS not in line
    assert "@" not in line
    assert failed.last_error is not None
    assert "550" in failed.last_error
    assert ADDRESS not in failed.last_error
