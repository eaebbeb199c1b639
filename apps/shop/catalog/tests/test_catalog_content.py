"""Product pages against the real content hub (a process) on real NATS: locale negotiation against the hub's
locales, the cached client refreshed by a publish, and pages that keep working when the hub dies."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from apps.shop.catalog.service import blurbs, service

from baton.kit import InstanceSettings
from baton.testing import wait_until

pytestmark = pytest.mark.integration

READ_TOKEN = "ro-" + "c" * 24
FULL_TOKEN = "fa-" + "c" * 24


async def test_pages_read_the_hub_through_the_cache_and_survive_its_death(
    launch_service, nats_url, tmp_path: Path, monkeypatch
):
    hub = launch_service(
        "apps.shop.content.service:service",
        service="content",
        env={"BATON_NATS_URL": nats_url, "CONTENT_API_TOKENS": f"read-only:{READ_TOKEN},full-access:{FULL_TOKEN}"},
    )
    monkeypatch.setenv("BATON_SERVICE_URLS", json.dumps({"content": hub.url}))
    monkeypatch.setenv("CATALOG_CONTENT_TOKEN", READ_TOKEN)
    service.reload_settings()
    try:
        async with (
            service.running(InstanceSettings(home=tmp_path / "catalog", nats_url=nats_url)),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://c") as http,
        ):

            async def blurb(path: str, language: str = "") -> dict | None:
                headers = {"Accept-Language": language} if language else {}
                response = await http.get(path, headers=headers)
                assert response.status_code == 200, response.text
                return response.json()["blurb"]

            swiss = await blurb("/v1/products/p-espresso", "fr-CH, de;q=0.9")  # fr-CH → fr
            german = await blurb("/v2/products/p-espresso", "de")  # unknown to the hub: skipped, English
            mug = await blurb("/v1/products/p-mug", "fr")  # no French blurb: English
            client = blurbs.client
            assert client is not None
            calls = client.calls
            assert await blurb("/v1/products/p-espresso", "fr") == swiss
            cached_calls = client.calls - calls

            async with httpx.AsyncClient(base_url=hub.url, headers={"Authorization": f"Bearer {FULL_TOKEN}"}) as h:
                found = await h.get("/api/product-blurbs", params={"filters[productId][$eq]": "p-espresso"})
                document_id = found.json()["data"][0]["documentId"]
                changed = await h.put(
                    f"/api/product-blurbs/{document_id}?locale=fr", json={"data": {"headline": "Espresso intense"}}
                )
            assert changed.status_code == 200

            async def republished() -> bool:
                return (await blurb("/v1/products/p-espresso", "fr"))["headline"] == "Espresso intense"

            await wait_until(republished, timeout=2.0, message="the published blurb on the next page")

            hub.kill()
            started = time.monotonic()
            unseen = await blurb("/v1/products/p-grinder", "en")  # never read: nothing to fall back on
            down_took = time.monotonic() - started
            still = await blurb("/v1/products/p-espresso", "fr")  # cached before the hub died
    finally:
        service.reload_settings()
    assert (swiss["locale"], swiss["headline"]) == ("fr", "Torréfaction espresso")
    assert (german["locale"], german["headline"]) == ("en", "Espresso Roast")
    assert (mug["locale"], mug["headline"]) == ("en", "Ceramic Mug")
    assert cached_calls == 0
    assert unseen is None
    assert down_took < 2.0  # CATALOG_CONTENT_TIMEOUT (0.5 s) bounds the wait, whatever the retries
    assert still["headline"] == "Espresso intense"
