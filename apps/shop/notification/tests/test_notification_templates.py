"""Which template an e-mail is composed from: the content hub's published one, else the file — when the hub has
none, cannot answer, or holds one that does not render. In-process, with a fake hub behind ``hub_templates``."""

from __future__ import annotations

from pathlib import Path

import pytest
from apps.shop.notification.events import compose_mail, on_order_confirmed
from apps.shop.notification.service import hub_templates, list_notifications, service

from baton.content import TemplateSnapshot
from baton.errors import CircuitOpen, ConfigError
from baton.events import CloudEvent
from baton.kit import InstanceSettings

ORDER = {
    "order_id": "a1b2c3d4e5f6",
    "email": "ada@example.test",
    "lines": [{"product_id": "p-1", "quantity": 2, "unit_price_cents": 1250}],
    "total_cents": 2500,
    "currency": "EUR",
}
FILE_SUBJECT = "Your order A1B2C3D4 is confirmed"


class FakeHubTemplates:
    """``ContentTemplates.snapshot`` over a dict of texts, or failing as told."""

    def __init__(self, texts: dict[str, str] | None = None, *, failure: Exception | None = None) -> None:
        self.texts = texts or {}
        self.failure = failure
        self.asked: list[list[str]] = []

    async def snapshot(self, names, *, locale=None) -> TemplateSnapshot:
        self.asked.append(list(names))
        if self.failure is not None:
            raise self.failure
        missing = [n for n in names if n not in self.texts]
        if missing:
            raise ConfigError(f"template {missing[0]!r} is not published in the content hub")
        return TemplateSnapshot({n: self.texts[n] for n in names})


@pytest.fixture
async def running(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NOTIFICATION_POLL_INTERVAL", "3600")
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)):
        yield service
    service.reload_settings()


@pytest.mark.parametrize(
    ("hub", "subject"),
    [
        (
            FakeHubTemplates({"order_confirmed": "Subject: Order ${order_ref}: on its way\n\n${lines}"}),
            "Order A1B2C3D4: on its way",
        ),
        (FakeHubTemplates({}), FILE_SUBJECT),  # not published in the hub
        (FakeHubTemplates(failure=CircuitOpen("content breaker open")), FILE_SUBJECT),  # hub down
        (FakeHubTemplates({"order_confirmed": "Subject: ${nope}\n\nbody"}), FILE_SUBJECT),  # an editor's typo
        (FakeHubTemplates({"order_confirmed": "no subject line"}), FILE_SUBJECT),
    ],
)
async def test_the_hub_template_is_used_when_it_renders_else_the_file(running, hub, subject):
    hub_templates.templates = hub  # this instance only: stop() restores the configured templates
    mail = await compose_mail("confirmed", ORDER)
    assert mail.subject == subject
    assert hub.asked == [["order_confirmed"]]


async def test_without_a_hub_configured_the_handler_owes_the_file_email(running):
    assert hub_templates.client is not None
    assert hub_templates.client.http is None  # no BATON_SERVICE_URLS, no NATS: optional, not found
    assert hub_templates.templates is None
    event = CloudEvent.create(type="shop.order.order.confirmed.v1", source="order", data=ORDER, subject="x")
    async with service.transaction() as session:
        await on_order_confirmed(event, session)
    async with service.transaction() as session:
        [owed] = await list_notifications(session)
    assert owed.subject == FILE_SUBJECT
    assert "2 x p-1  25.00 EUR" in owed.body
