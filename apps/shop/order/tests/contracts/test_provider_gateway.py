"""Order verifies the gateway's pact (open a cart, add an item, check out, read the order) against a real order
process (its prices backfilled from a real catalog). Provider states sign the customer in and create the cart
and the order through order's own API; a request filter puts their token and ids into the replayed requests."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from apps.shop.common.testusers import USERS

from baton.delivery.contracts.filter import RequestFilter, request_filter
from baton.delivery.contracts.fixtures import honour_pacts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[5]
SHOP = REPO / "apps" / "shop" / "baton.yaml"


def states(url: str, rules: RequestFilter) -> dict[str, object]:
    """Provider states by name, reached through order's API as customer ``cust-1``."""
    headers = USERS.headers("cust-1")

    def signed_in() -> None:
        rules.reset()
        rules.bearer(USERS.token("cust-1"))

    def open_cart() -> str:
        signed_in()
        answer = httpx.post(f"{url}/v1/carts", headers=headers, timeout=10)
        assert answer.status_code == 201, answer.text
        cart_id = str(answer.json()["cart_id"])
        rules.alias("cart-1", cart_id)
        return cart_id

    def cart_with_espresso() -> str:
        cart_id = open_cart()
        body = {"product_id": "p-espresso", "quantity": 2}
        answer = httpx.post(f"{url}/v1/carts/{cart_id}/items", json=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return cart_id

    def an_order() -> None:
        body = {"cart_id": cart_with_espresso(), "email": "ada@example.com", "card_token": "tok_visa"}
        answer = httpx.post(f"{url}/v1/orders", json=body, headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        rules.alias("order-1", str(answer.json()["order_id"]))

    return {
        "customer cust-1 is signed in": signed_in,
        "customer cust-1 has an open cart cart-1": open_cart,
        "customer cust-1 has a cart cart-1 holding p-espresso": cart_with_espresso,
        "customer cust-1 has an order order-1": an_order,
    }


def test_order_honours_the_gateway_pact(launch_service, nats_url, contract_store) -> None:
    env = {"BATON_NATS_URL": nats_url, "SHOP_USER_JWKS": USERS.jwks_json()}
    catalog = launch_service("apps.shop.catalog.service:service", service="catalog", env=env, ready_timeout=90)
    # Inventory and payment are not needed: the pact ends at the accepted checkout and the order as stored.
    peers = {"catalog": catalog.url, "inventory": "http://127.0.0.1:9", "payment": "http://127.0.0.1:9"}
    order = launch_service(
        "apps.shop.order.service:service",
        service="order",
        env={**env, "BATON_SERVICE_URLS": json.dumps(peers)},
        ready_timeout=90,
    )
    with request_filter(order.url) as rules:
        honour_pacts(
            contract_store,
            provider="order",
            manifest=SHOP,
            consumers={"gateway": REPO / "tests/contracts/gateway/test_consumer_gateway.py"},
            cwd=REPO,
            url=rules.url,
            states=states(order.url, rules),
        )
        replayed = list(rules.seen)
    # The replayed requests reached the ids the states created, not the pact's placeholders.
    assert replayed
    assert not [path for _, path in replayed if "cart-1" in path or "order-1" in path]
