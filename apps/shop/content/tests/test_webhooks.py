"""Webhooks as Strapi sends them, signed, retried with backoff and dead-lettered — to a real HTTP receiver."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from content_helpers import FULL, create, running_hub

from baton.content.signing import verify
from baton.events.server import free_port
from baton.testing import wait_until

SECRET = "whsec-" + "s" * 26


@dataclass
class Receiver:
    """A local HTTP endpoint recording webhook requests; answers 500 to the first ``failures`` of them."""

    url: str
    failures: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if len(self.requests) <= self.failures:
            return web.Response(status=500)
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    hook = Receiver(f"http://127.0.0.1:{port}/hook")
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield hook
    await runner.cleanup()


def _env(receiver: Receiver, **extra: str) -> dict[str, str]:
    hooks = [{"name": "site", "url": receiver.url, "headers": {"Authorization": "Bearer site-token"}}]
    return {
        "CONTENT_WEBHOOKS": json.dumps(hooks),
        "CONTENT_WEBHOOK_SECRET": SECRET,
        "CONTENT_WEBHOOK_BACKOFF": "0.01",
        "CONTENT_WEBHOOK_MAX_BACKOFF": "0.05",
        **extra,
    }


async def test_entry_webhooks_carry_strapi_payloads_headers_and_a_valid_signature(tmp_path: Path, receiver: Receiver):
    async with running_hub(tmp_path, _env(receiver)) as http:
        blurb = await create(http, "product-blurbs", {"productId": "p-mug", "headline": "Mug"})
        await http.put(
            f"/api/product-blurbs/{blurb['documentId']}?status=draft", json={"data": {"headline": "M"}}, headers=FULL
        )
        await http.delete(f"/api/product-blurbs/{blurb['documentId']}", headers=FULL)
        await wait_until(lambda: len(receiver.requests) >= 4, timeout=10, message="four webhooks delivered")
    events = []
    for headers, body in receiver.requests:
        payload = json.loads(body)
        events.append(payload["event"])
        assert headers["X-Strapi-Event"] == payload["event"]
        assert headers["Authorization"] == "Bearer site-token"
        assert headers["Content-Type"] == "application/json"
        assert len(headers["X-Webhook-Id"]) == 32
        verify([SECRET], signature=headers["X-Webhook-Signature"], timestamp=headers["X-Webhook-Timestamp"], body=body)
        assert set(payload) == {"event", "createdAt", "model", "uid", "entry"}
        assert (payload["model"], payload["uid"]) == ("product-blurb", "api::product-blurb.product-blurb")
        assert payload["entry"]["documentId"] == blurb["documentId"]
    assert sorted(events) == sorted(["entry.create", "entry.publish", "entry.update", "entry.delete"])
    publish = next(json.loads(b) for _, b in receiver.requests if json.loads(b)["event"] == "entry.publish")
    assert publish["entry"]["publishedAt"] is not None
    assert publish["entry"]["headline"] == "Mug"


async def test_media_webhooks(tmp_path: Path, receiver: Receiver):
    async with running_hub(tmp_path, _env(receiver)) as http:
        uploaded = await http.post(
            "/api/upload",
            json={
                "url": "https://cdn.example/espresso.png",
                "mime": "image/png",
                "size": 12.5,
                "fileInfo": {"alternativeText": "cup"},
            },
            headers=FULL,
        )
        file_id = uploaded.json()[0]["id"]
        article = await create(http, "articles", {"title": "With cover", "cover": file_id})
        with_cover = await http.get(f"/api/articles/{article['documentId']}?populate=cover")
        await http.delete(f"/api/upload/files/{file_id}", headers=FULL)
        await wait_until(lambda: len(receiver.requests) >= 4, timeout=10, message="media + entry webhooks delivered")
    media_events = [json.loads(b) for _, b in receiver.requests if json.loads(b)["event"].startswith("media.")]
    assert [e["event"] for e in media_events] == ["media.create", "media.delete"]
    assert set(media_events[0]) == {"event", "createdAt", "media"}
    assert media_events[0]["media"]["url"] == "https://cdn.example/espresso.png"
    assert with_cover.json()["data"]["cover"]["alternativeText"] == "cup"


async def test_failed_deliveries_are_retried_with_backoff(tmp_path: Path, receiver: Receiver):
    receiver.failures = 2
    async with running_hub(tmp_path, _env(receiver)) as http:
        await create(http, "authors", {"name": "Ada"})  # no draft & publish: one entry.create
        await wait_until(lambda: len(receiver.requests) >= 3, timeout=10, message="two failures then a success")

        async def recorded() -> list[dict]:
            # The receiver answered before the dispatcher recorded the outcome: wait for the record.
            return await _deliveries(http, "delivered")

        delivered = await wait_until(recorded, timeout=10, message="the delivery is recorded as delivered")
    assert len({headers["X-Webhook-Id"] for headers, _ in receiver.requests}) == 1  # the same delivery, re-sent
    assert [(d["event"], d["attempts"]) for d in delivered] == [("entry.create", 3)]


async def test_a_delivery_failing_n_times_becomes_a_dead_letter_record(tmp_path: Path, receiver: Receiver):
    receiver.failures = 1000
    async with running_hub(tmp_path, _env(receiver, CONTENT_WEBHOOK_MAX_ATTEMPTS="3")) as http:
        await create(http, "authors", {"name": "Ada"})

        async def dead() -> bool:
            return bool(await _deliveries(http, "dead"))

        await wait_until(dead, timeout=10, message="the delivery is dead-lettered")
        letters = await _deliveries(http, "dead")
    assert len(receiver.requests) == 3
    assert letters[0]["attempts"] == 3
    assert letters[0]["lastError"] == "HTTP 500"
    assert letters[0]["payload"]["event"] == "entry.create"


async def _deliveries(http: httpx.AsyncClient, status: str) -> list[dict]:
    response = await http.get(f"/admin/webhooks/deliveries?status={status}", headers=FULL)
    assert response.status_code == 200
    return response.json()["data"]
