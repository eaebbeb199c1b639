"""The content hub as a real process on real NATS JetStream: publishes reach consumers through the bus, the
content client's cache is invalidated within a second, and a webhook received from a hub becomes the same
CloudEvent as the hub's own."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import nats
import orjson
import pytest

from baton.content import CachePolicy, ContentClient, ContentTemplates, ReceiverPolicy, webhook_router
from baton.content.signing import signed_headers
from baton.events import CloudEvent
from baton.kit import InstanceSettings, Service
from baton.testing import wait_until

from .conftest import serving

pytestmark = pytest.mark.integration

PUBLISHED = "shop.content.entry.published.v1"


def _consumer(hub_url: str, read_token: str) -> tuple[Service, ContentClient, list[CloudEvent]]:
    """A stand-in for the notification service: a content client, templates from the hub, a handler on the bus."""
    service = Service("notification")
    client = ContentClient(base_url=hub_url, token=read_token, policy=CachePolicy(ttl=300))
    service.add_component(client)
    received: list[CloudEvent] = []

    @service.handler(PUBLISHED)
    async def on_published(event: CloudEvent, session) -> None:
        received.append(event)

    return service, client, received


async def test_a_published_template_reaches_the_consumer_and_changes_the_next_email(
    start_hub, nats_url, tokens, tmp_path: Path
):
    read_token, full_token = tokens
    hub_url = start_hub(BATON_NATS_URL=nats_url)
    service, client, received = _consumer(hub_url, read_token)
    templates = ContentTemplates(client)
    async with service.running(InstanceSettings(home=tmp_path / "consumer", nats_url=nats_url)):
        before = await templates.text("order_confirmed")
        calls = client.calls
        assert await templates.text("order_confirmed") == before  # served from the cache
        assert client.calls == calls
        async with httpx.AsyncClient(base_url=hub_url, headers={"Authorization": f"Bearer {full_token}"}) as hub:
            found = (await hub.get("/api/email-templates?filters[name][$eq]=order-confirmed")).json()["data"][0]
            changed = await hub.put(
                f"/api/email-templates/{found['documentId']}",
                json={"data": {"subject": "Order ${order_ref}: on its way"}},
            )
        assert changed.status_code == 200
        published_at = time.monotonic()
        await wait_until(
            lambda: client.cache.tagged("api:email-templates") == 0,
            timeout=1.0,
            message="cache invalidated within a second",
        )
        invalidated_after = time.monotonic() - published_at
        after = await templates.text("order_confirmed")
        await wait_until(lambda: any(e.data["entry"].get("name") == "order-confirmed" for e in received), timeout=10)
    assert before.startswith("Subject: Your order ${order_ref} is confirmed\n\n")
    assert after.startswith("Subject: Order ${order_ref}: on its way\n\n")
    assert invalidated_after < 1.0
    event = next(e for e in received if e.data["entry"].get("name") == "order-confirmed")
    assert event.source == "content"
    assert event.data["event"] == "entry.publish"
    assert (event.data["model"], event.data["locale"]) == ("email-template", "en")


async def test_blurbs_are_cached_with_locale_fallbacks_and_refreshed_on_publish(
    start_hub, nats_url, tokens, tmp_path: Path
):
    read_token, full_token = tokens
    hub_url = start_hub(BATON_NATS_URL=nats_url)
    service, client, _ = _consumer(hub_url, read_token)
    blurb = {"filters": {"productId": {"$eq": "p-espresso"}}, "fallbacks": ("en",)}
    async with service.running(InstanceSettings(home=tmp_path / "consumer", nats_url=nats_url)):
        french = await client.localized("product-blurbs", locale="fr", **blurb)
        mug = await client.localized(
            "product-blurbs", filters={"productId": {"$eq": "p-mug"}}, locale="fr", fallbacks=("en",)
        )
        calls = client.calls
        again = await client.localized("product-blurbs", locale="fr", **blurb)
        assert client.calls == calls
        async with httpx.AsyncClient(base_url=hub_url, headers={"Authorization": f"Bearer {full_token}"}) as hub:
            changed = await hub.put(
                f"/api/product-blurbs/{french['documentId']}?locale=fr", json={"data": {"headline": "Espresso intense"}}
            )
        assert changed.status_code == 200

        async def refreshed() -> bool:
            return (await client.localized("product-blurbs", locale="fr", **blurb))["headline"] == "Espresso intense"

        await wait_until(refreshed, timeout=1.0, message="the published change is read within a second")
    assert (french["locale"], french["headline"]) == ("fr", "Torréfaction espresso")
    assert again == french
    assert (mug["locale"], mug["headline"]) == ("en", "Ceramic Mug")  # no French blurb: the English one


async def test_a_hub_webhook_received_elsewhere_becomes_the_same_cloudevent(
    start_hub, nats_url, tokens, tmp_path: Path
):
    _, full_token = tokens
    secret = "whsec-" + "x" * 26
    receiver = Service("storefront")
    receiver.include_router(
        webhook_router(receiver, policy=ReceiverPolicy(secrets=(secret,), tokens=("strapi-token",)))
    )
    async with serving(receiver, InstanceSettings(home=tmp_path / "receiver", nats_url=nats_url)) as receiver_url:
        hooks = [{"name": "storefront", "url": f"{receiver_url}/webhooks/strapi", "events": ["entry.publish"]}]
        hub_url = start_hub(
            BATON_NATS_URL=nats_url,
            CONTENT_WEBHOOKS=json.dumps(hooks),
            CONTENT_WEBHOOK_SECRET=secret,
            CONTENT_SEED="false",
        )
        async with httpx.AsyncClient(base_url=hub_url, headers={"Authorization": f"Bearer {full_token}"}) as hub:
            created = await hub.post("/api/authors", json={"data": {"name": "Ada"}})  # no draft & publish: not sent
            blurb = await hub.post("/api/product-blurbs", json={"data": {"productId": "p-mug", "headline": "Mug"}})
        assert created.status_code == blurb.status_code == 201
        document_id = blurb.json()["data"]["documentId"]
        async with httpx.AsyncClient(base_url=receiver_url) as http:
            # A real Strapi does not sign; it sends the static header configured on its webhook.
            entry = {"id": 1, "documentId": "abc", "name": "Ada"}
            strapi_payload = {"event": "entry.update", "createdAt": "2026-01-01T00:00:00.000Z", "model": "author"}
            strapi_payload |= {"uid": "api::author.author", "entry": entry}
            body = orjson.dumps(strapi_payload)
            from_strapi = await http.post(
                "/webhooks/strapi", content=body, headers={"Authorization": "Bearer strapi-token"}
            )
            forged = await http.post(
                "/webhooks/strapi",
                content=body,
                headers={"X-Webhook-Signature": "sha256=00", "X-Webhook-Timestamp": str(int(time.time()))},
            )
            signed = signed_headers(secret, body)
            replayed = [await http.post("/webhooks/strapi", content=body, headers=signed) for _ in range(2)]
        observer = await nats.connect(nats_url)
        try:
            jetstream = observer.jetstream()

            async def on_stream() -> list[CloudEvent]:
                try:
                    info = await jetstream.stream_info("SHOP_CONTENT")
                except nats.js.errors.NotFoundError:
                    return []
                events = [
                    CloudEvent.from_json((await jetstream.get_msg("SHOP_CONTENT", seq=s)).data)
                    for s in range(1, info.state.last_seq + 1)
                ]
                sources = {(e.source, e.type) for e in events}
                return (
                    events
                    if {("content", PUBLISHED), ("strapi", PUBLISHED), ("strapi", "shop.content.entry.updated.v1")}
                    <= sources
                    else []
                )

            events = await wait_until(on_stream, timeout=15, message="hub and receiver events on SHOP_CONTENT")
        finally:
            await observer.close()
    assert from_strapi.status_code == 202
    assert forged.status_code == 401
    # Same body, so the same event id: a duplicate of the Strapi one (no second event); then the replay is refused.
    assert [r.status_code for r in replayed] == [200, 401]
    assert replayed[0].json()["duplicate"] is True
    hub_event = next(e for e in events if e.source == "content" and e.type == PUBLISHED)
    relayed = next(e for e in events if e.source == "strapi" and e.type == PUBLISHED)
    assert relayed.data == hub_event.data
    assert relayed.subject == hub_event.subject == document_id
    strapi_event = next(e for e in events if e.type == "shop.content.entry.updated.v1" and e.source == "strapi")
    assert strapi_event.data == {"event": "entry.update", "createdAt": "2026-01-01T00:00:00.000Z", "model": "author",
                                 "uid": "api::author.author", "documentId": "abc", "locale": None,
                                 "entry": {"id": 1, "documentId": "abc", "name": "Ada"}}  # fmt: skip
