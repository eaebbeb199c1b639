"""The dashboard shows a real checkout of the shop: its saga's timeline (every step succeeded) and its trace as a
waterfall across order, inventory, payment and the event consumers, in Chromium, with screenshots."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from pathlib import Path

import httpx
import pytest

from baton.testing import wait_until_sync

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
STEPS = ["open_order", "reserve_stock", "authorize_payment", "capture_payment", "confirm_order"]
# The saga's calls and the events it causes; the gateway forwards traceparent but exports no span of its own.
CHECKOUT_SERVICES = {"order", "inventory", "payment", "notification"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    system_module = pytest.importorskip("apps.shop.common.system", reason="the shop is not in the tree")
    if not (REPO / "apps" / "shop" / "order" / "service.py").exists():
        pytest.skip("the shop's order service is not in the tree yet")
    with system_module.ShopSystem(tmp_path_factory.mktemp("shop-dashboard")) as system:
        yield system


async def _checkout(gateway: str, trace_id: str, correlation_id: str) -> str:
    from apps.shop.common.shopper import Shopper

    async with httpx.AsyncClient() as http:
        shopper = await Shopper(http, gateway=gateway).register(f"dash-{uuid.uuid4().hex[:8]}@e2e.test", "dash-pw-1")
        cart = await shopper.open_cart()
        await shopper.add_item(cart, "p-espresso", 1)
        headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01", "X-Correlation-ID": correlation_id}
        body = {"cart_id": cart, "email": "dash@example.com", "card_token": "tok_visa"}
        accepted = await shopper.call("order", "POST", "/v1/orders", json=body, key=uuid.uuid4().hex, headers=headers)
        order = await shopper.wait_final(str(accepted["order_id"]))
        assert order["status"] == "CONFIRMED", order
        return str(accepted["order_id"])


def _api(shop, path: str, **params):
    token = shop.home.admin_token()
    answer = httpx.get(shop.control_url + path, params=params, headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    return answer.json()


def test_the_dashboard_shows_the_trace_and_saga_of_a_real_checkout(shop):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    trace_id, correlation_id = secrets.token_hex(16), f"dash-{uuid.uuid4().hex[:12]}"
    asyncio.run(_checkout(shop.gateway_url, trace_id, correlation_id))

    # The control plane finds the saga at the orchestrating service, by the checkout's correlation id.
    sagas = wait_until_sync(
        lambda: _api(shop, "/v1/sagas", correlation_id=correlation_id)["items"],
        timeout=20,
        interval=0.25,
        message="the checkout's saga is not listed",
    )
    (saga,) = sagas
    assert saga["name"] == "checkout"
    assert saga["status"] == "completed"
    assert saga["service"] == "order"

    def traced() -> bool:
        try:
            spans = _api(shop, f"/v1/telemetry/traces/{trace_id}")["spans"]
        except httpx.HTTPStatusError:
            return False
        return {s["service"] for s in spans} >= CHECKOUT_SERVICES

    wait_until_sync(traced, timeout=30, interval=0.5, message="the checkout's trace never covered every service")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            expect = sync_api.expect
            # ?token= once: swapped for the cookie, and gone from the address bar.
            page.goto(f"{shop.control_url}/ui/sagas?token={shop.home.admin_token()}")
            assert "token=" not in page.url
            row = page.locator("table.sagas tbody tr").filter(has_text=correlation_id)
            expect(row).to_contain_text("completed")
            page.screenshot(path=str(ARTIFACTS / "10-shop-sagas.png"), full_page=True)
            row.locator(f'a[href="/ui/sagas/{saga["id"]}"]').click()
            lanes = page.locator(".lane")
            expect(lanes).to_have_count(len(STEPS))
            assert [lanes.nth(i).get_attribute("data-step") for i in range(len(STEPS))] == STEPS
            for i in range(len(STEPS)):
                expect(lanes.nth(i).locator(".badge").first).to_have_text("succeeded")
            expect(page.locator("table.saga-log")).to_contain_text("saga_completed")
            page.screenshot(path=str(ARTIFACTS / "11-shop-saga-timeline.png"), full_page=True)

            # The whole flow by correlation id: the saga's steps at order and the choreographed reactions.
            wait_until_sync(
                lambda: (
                    {("notification", "handled"), ("analytics", "handled")}
                    <= {(i["service"], i["kind"]) for i in _api(shop, f"/v1/flows/{correlation_id}")["items"]}
                ),
                timeout=30,
                interval=0.5,
                message="the flow never showed notification's and analytics' reactions",
            )
            page.locator("a.flow-link").click()
            for service in ("order", "notification", "analytics"):
                expect(page.locator(f'.flow-lane[data-service="{service}"]')).to_have_count(1)
            expect(page.locator('.flow-lane[data-service="order"] .flow-mark.kind-saga').first).to_be_visible()
            expect(page.locator("table.flow-log")).to_contain_text("consumer notification")
            page.screenshot(path=str(ARTIFACTS / "14-shop-flow.png"), full_page=True)

            page.goto(f"{shop.control_url}/ui/traces/{trace_id}")
            services = set(page.locator(".wf-row").evaluate_all("rows => rows.map(r => r.dataset.service)"))
            assert services >= CHECKOUT_SERVICES
            expect(page.locator(".wf-row .wf-label").filter(has_text="/v1/orders").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "12-shop-checkout-trace.png"), full_page=True)

            page.goto(f"{shop.control_url}/ui/topology")
            expect(page.locator('g.edge.observed[data-edge="order->inventory"]')).to_have_count(1)
            expect(page.locator('g.edge.observed[data-edge="order->payment"]')).to_have_count(1)
            page.screenshot(path=str(ARTIFACTS / "13-shop-topology.png"), full_page=True)
        finally:
            browser.close()
