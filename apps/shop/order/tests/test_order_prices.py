"""The price read model: version ordering, idempotency through the inbox, and the backfill from the catalog."""

from __future__ import annotations

import pytest
from apps.shop.order import events, wiring
from apps.shop.order.prices import BACKFILLED, Price, apply_price, get_price, is_marked
from apps.shop.order.service import service
from order_fakes import product

from baton.events import CloudEvent, Inbox
from baton.events.naming import subject_for
from baton.kit import InstanceSettings


def price_changed(product_id: str, price_cents: int, version: int, *, event_id: str | None = None) -> CloudEvent:
    return CloudEvent.create(
        type=events.PRODUCT_PRICE_CHANGED,
        source="catalog",
        id=event_id,
        data={
            "product_id": product_id,
            "old_price_cents": 0,
            "price_cents": price_cents,
            "currency": "EUR",
            "version": version,
        },
    )


class Delivered:
    """One delivery of an event, recording how it was settled."""

    def __init__(self, event: CloudEvent) -> None:
        self.event = event
        self.subject = subject_for(event.type)
        self.deliveries = 1
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nak(self, delay: float = 0.0) -> None:
        self.settled.append("nak")

    async def dead_letter(self, *, consumer: str, error: str) -> None:
        self.settled.append("dead")


async def test_prices_apply_only_when_the_version_is_newer(shop):
    async with service.transaction() as session:
        applied = [
            await apply_price(session, Price("p9", 100, "EUR", 1)),
            await apply_price(session, Price("p9", 300, "EUR", 3)),
            await apply_price(session, Price("p9", 200, "EUR", 2)),  # late: older than what is stored
            await apply_price(session, Price("p9", 300, "EUR", 3)),  # again
        ]
        stored = await get_price(session, "p9")
    assert applied == [True, True, False, False]
    assert (stored.price_cents, stored.version) == (300, 3)


async def test_handlers_apply_events_in_any_order(shop):
    async with service.transaction() as session:
        await events.on_price_changed(price_changed("p1", 1500, 3), session)
        await events.on_price_changed(price_changed("p1", 1200, 2), session)
    response = await shop.http.get("/v1/prices/p1")
    assert response.json() == {"product_id": "p1", "price_cents": 1500, "currency": "EUR", "version": 3}


async def test_a_redelivered_event_is_handled_once_by_the_inbox(shop):
    inbox = Inbox(service.sessions, "order", service.events.handlers)
    event = price_changed("p2", 999, 2)
    first, again = Delivered(event), Delivered(event)
    await inbox.process([first])
    await inbox.process([again])
    assert (inbox.stats.handled, inbox.stats.duplicates) == (1, 1)
    assert first.settled == again.settled == ["ack"]
    assert (await shop.http.get("/v1/prices/p2")).json()["price_cents"] == 999


async def test_unknown_prices_are_404(shop):
    response = await shop.http.get("/v1/prices/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_backfill_pages_through_the_catalog_and_retries_until_it_answers(tmp_path, fakes, monkeypatch):
    _, _, catalog = fakes
    catalog.items = [product(f"p{n:03}", 100 + n, version=2) for n in range(7)]
    catalog.fail_first = 2
    monkeypatch.setenv("ORDER_BACKFILL_PAGE_SIZE", "3")
    monkeypatch.setenv("ORDER_BACKFILL_MAX_BACKOFF", "0.3")
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)):
        await wiring.backfill.wait()
        await wiring.backfill.check()
        async with service.transaction() as session:
            marked = await is_marked(session, BACKFILLED)
            last = await get_price(session, "p006")
    # 2 failures, then 3 pages of 3, 3 and 1 products.
    assert catalog.calls == 5
    assert marked
    assert (last.price_cents, last.version) == (106, 2)


async def test_backfill_runs_once_and_never_overrides_newer_event_prices(tmp_path, fakes):
    _, _, catalog = fakes
    async with service.running(InstanceSettings(home=tmp_path)):
        await wiring.backfill.wait()
    calls_after_first_run = catalog.calls
    async with service.running(InstanceSettings(home=tmp_path)):
        await wiring.backfill.wait()
        async with service.transaction() as session:
            await events.on_price_changed(price_changed("p1", 5000, 7), session)
    assert catalog.calls == calls_after_first_run
    assert wiring.backfill.applied == 0


@pytest.mark.parametrize("version", [1, 2])
async def test_a_stale_product_created_event_does_not_undo_a_price_change(shop, version):
    created = CloudEvent.create(
        type=events.PRODUCT_CREATED,
        source="catalog",
        data={**product("p1", 1, version=version), "product_id": "p1"},
    )
    async with service.transaction() as session:
        await events.on_price_changed(price_changed("p1", 4242, 5), session)
        await events.on_product_created(created, session)
    assert (await shop.http.get("/v1/prices/p1")).json()["price_cents"] == 4242
