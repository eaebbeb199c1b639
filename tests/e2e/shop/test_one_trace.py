"""One checkout is one trace: from the gateway through order, the saga and its steps, inventory and payment, the
order.confirmed event's outbox write, relay publish and consumption, to the notification's e-mail (issue #7).

The shopper sends no ``traceparent``: the gateway starts the trace, and the test finds it through the saga's span
(named after the order) in the control plane's span store.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from apps.shop.common.shopper import Shopper

from baton.testing import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

CONFIRMED = "shop.order.order.confirmed"
STEPS = ("open_order", "reserve_stock", "authorize_payment", "capture_payment", "confirm_order")


@pytest.fixture
async def http(shop):
    # Instances serve mutual TLS: the operator's certificate and service tokens (the gateway stays plain HTTP).
    async with shop.async_client() as client:
        yield client


async def _confirmed_checkout(shopper: Shopper) -> tuple[str, str]:
    """Check out until one order is CONFIRMED (the e2e shop declines one payment in five); its id and cid."""
    for _ in range(8):
        cart = await shopper.open_cart()
        await shopper.add_item(cart, "p-espresso", 1)
        correlation_id = f"trace-{uuid.uuid4().hex[:12]}"
        body = {"cart_id": cart, "email": "trace@example.com", "card_token": "tok_visa"}
        accepted = await shopper.call(
            "order", "POST", "/v1/orders", json=body, key=uuid.uuid4().hex, headers={"X-Correlation-ID": correlation_id}
        )
        order = await shopper.wait_final(str(accepted["order_id"]))
        if order["status"] == "CONFIRMED":
            return str(accepted["order_id"]), correlation_id
    raise AssertionError("eight checkouts in a row were cancelled")


async def test_a_checkout_through_the_gateway_is_one_trace(shop, http: httpx.AsyncClient) -> None:
    customer = await Shopper(http, gateway=shop.gateway_url).register(
        f"trace-{uuid.uuid4().hex[:8]}@e2e.test", "e2e-pw-1"
    )
    order_id, correlation_id = await _confirmed_checkout(customer)

    async def trace_id() -> str | None:
        found = shop.get(f"/v1/telemetry/traces?operation=saga checkout {order_id}")
        return str(found[0]["trace_id"]) if found else None

    tid = await wait_until(
        trace_id, timeout=30, interval=0.25, message="the saga's span never reached the control plane"
    )

    def present(spans: list[dict[str, Any]]) -> dict[str, bool]:
        def has(service: str, name: str, kind: str | None = None) -> bool:
            return any(
                s["service"] == service and s["name"] == name and (kind is None or s["kind"] == kind) for s in spans
            )

        checks = {
            "gateway": any(s["service"] == "gateway" for s in spans),
            "order POST /v1/orders": has("order", "POST /v1/orders", "server"),
            "saga": has("order", f"saga checkout {order_id}"),
            "inventory": any(s["service"] == "inventory" and s["kind"] == "server" for s in spans),
            "payment": any(s["service"] == "payment" and s["kind"] == "server" for s in spans),
            "outbox create": has("order", f"create {CONFIRMED}", "producer"),
            "relay send": has("order", f"send {CONFIRMED}", "producer"),
            "notification process": has("notification", f"process {CONFIRMED}", "consumer"),
            "analytics process": has("analytics", f"process {CONFIRMED}", "consumer"),
            "smtp send": has("notification", "smtp send", "client"),
        }
        checks.update({f"step {step}": has("order", f"saga step {step}") for step in STEPS})
        return checks

    async def whole() -> list[dict[str, Any]] | None:
        spans: list[dict[str, Any]] = shop.get(f"/v1/telemetry/traces/{tid}")["spans"]
        return spans if all(present(spans).values()) else None

    try:
        spans = await wait_until(whole, timeout=30, interval=0.5, message="the checkout's trace never became whole")
    except TimeoutError:
        missing = [k for k, ok in present(shop.get(f"/v1/telemetry/traces/{tid}")["spans"]).items() if not ok]
        raise AssertionError(f"trace {tid} lacks: {', '.join(missing)}") from None

    assert {s["trace_id"] for s in spans} == {tid}
    by_id = {s["span_id"]: s for s in spans}

    assert len(by_id) == len(spans), "two spans share a span id"

    def ancestors(span: dict[str, Any]) -> list[str]:
        chain: list[str] = []
        seen = {span["span_id"]}
        while span.get("parent_span_id") in by_id:
            span = by_id[span["parent_span_id"]]
            assert span["span_id"] not in seen, f"parent links loop at {span['name']}"
            seen.add(span["span_id"])
            chain.append(span["name"])
        return chain

    (smtp,) = [s for s in spans if s["name"] == "smtp send"]
    # The e-mail hangs off the consumer, which hangs off the outbox write in the saga's last step.
    chain = ancestors(smtp)
    assert chain[:2] == [f"process {CONFIRMED}", f"create {CONFIRMED}"], chain
    assert "saga step confirm_order" in chain
    assert f"saga checkout {order_id}" in chain
    assert "POST /v1/orders" in chain
    (saga,) = [s for s in spans if s["name"] == f"saga checkout {order_id}"]
    assert saga["attributes"]["baton.correlation_id"] == correlation_id
    # The steps' calls are children of the step spans: payment's server spans sit under the payment steps.
    payment_parents = {tuple(ancestors(s)) for s in spans if s["service"] == "payment" and s["kind"] == "server"}
    assert all(any(n.startswith("saga step") for n in chain) for chain in payment_parents), payment_parents

    # The same checkout as one flow by its correlation id: the saga's steps at order, the order.confirmed event
    # produced and published by order, and the choreographed reactions of notification and analytics.
    async def flow() -> dict[str, Any] | None:
        found: dict[str, Any] = shop.get(f"/v1/flows/{correlation_id}")
        handled = {(i["service"], i["name"]) for i in found["items"] if i["kind"] == "handled"}
        wanted = {("notification", f"{CONFIRMED}.v1"), ("analytics", f"{CONFIRMED}.v1")}
        return found if wanted <= handled else None

    timeline = await wait_until(flow, timeout=30, interval=0.5, message="the flow never showed both reactions")
    kinds = [(i["service"], i["kind"]) for i in timeline["items"]]
    assert ("order", "saga") in kinds
    assert ("order", "produced") in kinds
    assert ("order", "published") in kinds
    assert timeline["sagas"][0]["id"] == order_id
    produced_at = min(i["t"] for i in timeline["items"] if i["kind"] == "produced")
    assert all(i["t"] >= produced_at for i in timeline["items"] if i["kind"] == "handled")
