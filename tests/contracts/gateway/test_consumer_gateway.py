"""The gateway as a consumer: pacts for the shop's public routes, the way a client uses them through it.

The gateway forwards ``/v1/products``, ``/v2/products``, ``/v1/users``, ``/v1/login``, ``/v1/carts`` and
``/v1/orders`` to catalog, identity and order unchanged (``routes:`` in ``apps/shop/baton.yaml``), so what a
client (the ``shop-web`` flow below: browse, sign up, sign in, open a cart, add an item, check out, read the order)
needs from those paths is what the gateway needs from the services. Each pact is published under the gateway's
version: the gateway is deployed, so ``baton contracts can-i-deploy catalog|order|identity`` weighs these pacts.

Authenticated requests carry a bearer token matched by shape (the token is the provider state's business:
order's verification signs one in); ids in paths and bodies are placeholders (``cart-1``, ``order-1``) that the
provider states map to what they created (:mod:`baton.delivery.contracts.filter`).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pact import match

from baton.delivery.contracts import consumer_pact, publish

pytestmark = pytest.mark.integration

BEARER = match.regex("Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln", regex=r"^Bearer [A-Za-z0-9_.-]+$")
JSON = "application/json"


class ShopWeb:
    """The client flow through the gateway: a thin httpx wrapper over the public API (what a web front end does)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.token = token

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def products(self, api: str = "v1") -> list[dict[str, Any]]:
        answer = self.http.get(f"/{api}/products")
        answer.raise_for_status()
        return list(answer.json()["items"])

    def sign_up(self, email: str, password: str, name: str) -> dict[str, Any]:
        answer = self.http.post("/v1/users", json={"email": email, "password": password, "name": name})
        answer.raise_for_status()
        return dict(answer.json())

    def sign_in(self, email: str, password: str) -> str:
        answer = self.http.post("/v1/login", json={"email": email, "password": password})
        answer.raise_for_status()
        self.token = str(answer.json()["access_token"])
        return self.token

    def open_cart(self) -> str:
        answer = self.http.post("/v1/carts", headers=self._auth())
        answer.raise_for_status()
        return str(answer.json()["cart_id"])

    def add(self, cart_id: str, product_id: str, quantity: int) -> dict[str, Any]:
        body = {"product_id": product_id, "quantity": quantity}
        answer = self.http.post(f"/v1/carts/{cart_id}/items", json=body, headers=self._auth())
        answer.raise_for_status()
        return dict(answer.json())

    def checkout(self, cart_id: str, email: str, card_token: str) -> str:
        body = {"cart_id": cart_id, "email": email, "card_token": card_token}
        answer = self.http.post("/v1/orders", json=body, headers=self._auth())
        answer.raise_for_status()
        return str(answer.json()["order_id"])

    def order(self, order_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/v1/orders/{order_id}", headers=self._auth())
        answer.raise_for_status()
        return dict(answer.json())


def test_browsing_products_v1_and_v2(contract_store, gateway_version) -> None:
    pact = consumer_pact("gateway", "catalog")
    (
        pact.upon_receiving("browse products (v1)")
        .given("the demo catalog is seeded")
        .with_request("GET", "/v1/products")
        .will_respond_with(200)
        .with_body(
            {
                "items": match.each_like(
                    {
                        "id": match.str("p-espresso"),
                        "name": match.str("Espresso beans"),
                        "price_cents": match.int(1490),
                        "currency": match.str("EUR"),
                        "category_id": match.str("coffee"),
                    },
                    min=1,
                ),
            },
            content_type=JSON,
        )
    )
    (
        pact.upon_receiving("browse products (v2)")
        .given("the demo catalog is seeded")
        .with_request("GET", "/v2/products")
        .will_respond_with(200)
        .with_body(
            {
                "items": match.each_like(
                    {
                        "id": match.str("p-espresso"),
                        "title": match.str("Espresso beans"),
                        "price": {"amount_cents": match.int(1490), "currency": match.str("EUR")},
                        "category": {"id": match.str("coffee"), "name": match.str("Coffee")},
                    },
                    min=1,
                ),
            },
            content_type=JSON,
        )
    )
    with pact.serve() as mock:
        web = ShopWeb(str(mock.url))
        v1 = web.products("v1")
        v2 = web.products("v2")
    assert v1[0]["price_cents"] == v2[0]["price"]["amount_cents"] == 1490
    publish(pact, contract_store, consumer_version=gateway_version)


def test_signing_up_and_in(contract_store, gateway_version) -> None:
    pact = consumer_pact("gateway", "identity")
    (
        pact.upon_receiving("a sign-up")
        .given("nobody uses ada@example.com")
        .with_request("POST", "/v1/users")
        .with_body({"email": "ada@example.com", "password": "correct horse", "name": "Ada"}, content_type=JSON)
        .will_respond_with(201)
        .with_body(
            {"id": match.str("u-1"), "email": "ada@example.com", "name": "Ada", "roles": match.each_like("customer")},
            content_type=JSON,
        )
    )
    (
        pact.upon_receiving("a sign-in")
        .given("grace@example.com has an account")
        .with_request("POST", "/v1/login")
        .with_body({"email": "grace@example.com", "password": "correct horse"}, content_type=JSON)
        .will_respond_with(200)
        .with_body(
            {
                "access_token": match.str("eyJhbGciOiJFZERTQSJ9.e30.c2ln"),
                "token_type": "bearer",
                "expires_in": match.int(600),
                "refresh_token": match.str("r-1"),
            },
            content_type=JSON,
        )
    )
    with pact.serve() as mock:
        web = ShopWeb(str(mock.url))
        user = web.sign_up("ada@example.com", "correct horse", "Ada")
        token = web.sign_in("grace@example.com", "correct horse")
    assert user["roles"] == ["customer"]
    assert token
    publish(pact, contract_store, consumer_version=gateway_version)


def test_a_checkout_from_cart_to_order(contract_store, gateway_version) -> None:
    pact = consumer_pact("gateway", "order")
    new_cart = {"cart_id": match.str("cart-1"), "status": match.str("OPEN"), "items": []}
    (
        pact.upon_receiving("open a cart")
        .given("customer cust-1 is signed in")
        .with_request("POST", "/v1/carts")
        .with_header("Authorization", BEARER)
        .will_respond_with(201)
        .with_body(new_cart, content_type=JSON)
    )
    (
        pact.upon_receiving("add an item to a cart")
        .given("customer cust-1 has an open cart cart-1")
        .with_request("POST", "/v1/carts/cart-1/items")
        .with_header("Authorization", BEARER)
        .with_body({"product_id": "p-espresso", "quantity": 2}, content_type=JSON)
        .will_respond_with(200)
        .with_body(
            {
                "cart_id": match.str("cart-1"),
                "items": match.each_like(
                    {"product_id": "p-espresso", "quantity": 2, "unit_price_cents": match.int(1490)}, min=1
                ),
            },
            content_type=JSON,
        )
    )
    (
        pact.upon_receiving("check out a cart")
        .given("customer cust-1 has a cart cart-1 holding p-espresso")
        .with_request("POST", "/v1/orders")
        .with_header("Authorization", BEARER)
        .with_body({"cart_id": "cart-1", "email": "ada@example.com", "card_token": "tok_visa"}, content_type=JSON)
        .will_respond_with(202)
        .with_body({"order_id": match.str("order-1"), "status": match.str("PENDING")}, content_type=JSON)
    )
    (
        pact.upon_receiving("read an order")
        .given("customer cust-1 has an order order-1")
        .with_request("GET", "/v1/orders/order-1")
        .with_header("Authorization", BEARER)
        .will_respond_with(200)
        .with_body(
            {
                "order_id": match.str("order-1"),
                "status": match.str("CONFIRMED"),
                "email": "ada@example.com",
                "total_cents": match.int(2980),
                "currency": match.str("EUR"),
                "lines": match.each_like(
                    {"product_id": "p-espresso", "quantity": 2, "unit_price_cents": match.int(1490)}, min=1
                ),
            },
            content_type=JSON,
        )
    )
    with pact.serve() as mock:
        web = ShopWeb(str(mock.url), token="eyJhbGciOiJFZERTQSJ9.e30.c2ln")
        cart_id = web.open_cart()
        web.add("cart-1", "p-espresso", 2)
        order_id = web.checkout("cart-1", "ada@example.com", "tok_visa")
        order = web.order("order-1")
    assert (cart_id, order_id) == ("cart-1", "order-1")
    assert order["total_cents"] == 2980
    publish(pact, contract_store, consumer_version=gateway_version)
