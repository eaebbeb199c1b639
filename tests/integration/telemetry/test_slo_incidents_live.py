"""The loop the control plane runs, against real processes' HTTP: scrape a kit service's ``/metrics``, evaluate an
SLO, group the alert into an incident, notify a webhook (retried), and resolve when the service recovers."""

from __future__ import annotations

import aiohttp
import pytest
from fastapi import FastAPI, HTTPException, Request

from baton.events.server import free_port
from baton.kit import InstanceSettings, Service
from baton.telemetry.burn import SloEvaluator
from baton.telemetry.incident_store import SqliteIncidentStore
from baton.telemetry.incidents import IncidentManager
from baton.telemetry.notify import WebhookNotifier, WebhookPolicy
from baton.telemetry.red import error_ratio, request_rate, selector
from baton.telemetry.scrape import ScrapePolicy, Scraper, ScrapeTarget
from baton.telemetry.slo import SLO, BurnRateRule
from baton.telemetry.window import MetricWindow
from baton.testing import wait_until

pytestmark = pytest.mark.integration


def flaky_service(tmp_path) -> tuple[Service, dict[str, bool]]:
    state = {"failing": False}
    service = Service("shopfront")

    @service.get("/v1/items")
    async def items() -> dict[str, str]:
        if state["failing"]:
            raise HTTPException(status_code=503, detail="inventory unreachable")
        return {"ok": "yes"}

    service.configure(InstanceSettings(service="shopfront", instance="shopfront-1", home=tmp_path / "home"))
    return service, state


def webhook_receiver() -> tuple[FastAPI, list[dict]]:
    received: list[dict] = []
    attempts = {"n": 0}
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise HTTPException(status_code=503, detail="chat service hiccup")  # the notifier must retry
        received.append(await request.json())
        return {"ok": "yes"}

    return app, received


async def test_an_outage_opens_one_incident_notifies_and_resolves_on_recovery(serve_asgi, tmp_path):
    service, state = flaky_service(tmp_path)
    hook_app, received = webhook_receiver()
    async with serve_asgi(service.app) as base, serve_asgi(hook_app) as hook, aiohttp.ClientSession() as http:
        window = MetricWindow()
        dead = f"http://127.0.0.1:{free_port()}/metrics"
        scraper = Scraper(
            window,
            lambda: [
                ScrapeTarget(f"{base}/metrics", {"instance": "shopfront-1"}),
                ScrapeTarget(dead, {"instance": "gone"}),
            ],
            policy=ScrapePolicy(timeout=2.0),
        )
        slo = SLO(
            name="items-available", service="shopfront", route="/v1/items", objective=90.0, runbook="https://rb/items"
        )
        # Windows of seconds instead of hours, so the whole story fits in a test: page at 5x the 10% budget.
        evaluator = SloEvaluator(
            [slo], window, rules=[BurnRateRule("page", long_window=3, short_window=1, factor=5)], step=0.1
        )
        store = SqliteIncidentStore(tmp_path / "incidents.db")
        incidents = IncidentManager(
            store, notifiers=[WebhookNotifier(f"{hook}/hook", policy=WebhookPolicy(backoff=0.05))]
        )

        async def cycle(requests: int = 5) -> None:
            for _ in range(requests):
                async with http.get(f"{base}/v1/items") as response:
                    await response.read()
            await scraper.scrape_once(http)
            evaluator.tick()
            await incidents.observe(evaluator.firing())

        for _ in range(5):
            await cycle()
        healthy_incidents = await store.list()
        assert request_rate(window, selector("shopfront"), over=60, now=evaluator.clock()) > 0
        assert error_ratio(window, selector("shopfront"), over=60, now=evaluator.clock()) == 0

        state["failing"] = True

        async def opened() -> bool:
            await cycle()
            return bool(incidents.open_incidents())

        await wait_until(opened, timeout=20, interval=0.05, message="no incident opened")
        (incident,) = incidents.open_incidents()
        (status,) = evaluator.status()
        assert status.burn_rates[1] > 5
        assert status.burn_rates[3] > 5
        assert status.budget_remaining < 0

        state["failing"] = False

        async def resolved() -> bool:
            await cycle()
            return not incidents.open_incidents()

        await wait_until(resolved, timeout=20, interval=0.05, message="incident never resolved")
        stored = await store.get(incident.id)
        await store.aclose()

    assert healthy_incidents == []
    assert [r["event"] for r in received] == ["opened", "resolved"]
    assert received[0]["incident"]["runbooks"] == ["https://rb/items"]
    assert received[0]["incident"]["services"] == ["shopfront"]
    assert stored["state"] == "resolved"
    assert [e["kind"] for e in stored["timeline"]] == ["alert_fired", "opened", "alert_cleared", "resolved"]
    assert window.latest("up", {"instance": "shopfront-1"}, now=evaluator.clock()) == 1
    assert window.latest("up", {"instance": "gone"}, now=evaluator.clock()) == 0


async def test_the_background_scraper_follows_its_targets(serve_asgi, tmp_path):
    service, _ = flaky_service(tmp_path)
    async with serve_asgi(service.app) as base:
        targets = [ScrapeTarget(f"{base}/metrics", {"instance": "shopfront-1"})]
        window = MetricWindow()
        scraper = Scraper(window, lambda: list(targets), policy=ScrapePolicy(interval=0.05))
        async with scraper.running():
            await wait_until(lambda: scraper.rounds >= 2, message="scraper idle")
            targets.clear()
            rounds = scraper.rounds
            await wait_until(lambda: scraper.rounds >= rounds + 2, message="scraper stopped")

    up = window.select("up", {"instance": "shopfront-1"})[0]
    assert [v for _, v in up.samples][:2] == [1.0, 1.0]
    assert len(up.samples) <= rounds  # no samples once the target was gone
