"""Steps the order tests share: fill a cart, check out, wait for the order's final state."""

from __future__ import annotations

from typing import Any

import httpx
from apps.shop.common.testusers import USERS

from baton.testing import wait_until


def as_customer(customer_id: str | None) -> dict[str, str]:
    """Headers that make a request come from ``customer_id`` (the client's default caller when ``None``)."""
    return USERS.headers(customer_id) if customer_id else {}


async def cart_with(http: httpx.AsyncClient, *lines: tuple[str, int], customer_id: str | None = None) -> str:
    """A cart of ``customer_id`` (the client's default caller when ``None``) holding ``lines``."""
    headers = as_customer(customer_id)
    created = await http.post("/v1/carts", headers=headers)
    assert created.status_code == 201, created.text
    cart_id = str(created.json()["cart_id"])
    for product_id, quantity in lines:
        added = await http.post(
            f"/v1/carts/{cart_id}/items", json={"product_id": product_id, "quantity": quantity}, headers=headers
        )
        assert added.status_code == 200, added.text
    return cart_id


async def checkout(
    http: httpx.AsyncClient,
    cart_id: str,
    *,
    card_token: str = "tok_visa",
    key: str | None = None,
    customer_id: str | None = None,
) -> httpx.Response:
    headers = {**as_customer(customer_id), **({"Idempotency-Key": key} if key else {})}
    body = {"cart_id": cart_id, "email": "ada@example.com", "card_token": card_token}
    return await http.post("/v1/orders", json=body, headers=headers)


async def final_order(
    http: httpx.AsyncClient, order_id: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The order once it is CONFIRMED or CANCELLED and its saga has ended."""

    async def done() -> dict[str, Any] | None:
        order: dict[str, Any] = (await http.get(f"/v1/orders/{order_id}", headers=headers)).json()
        saga = order.get("saga") or {}
        ended = order["status"] != "PENDING" and saga.get("status") in ("completed", "compensated")
        return order if ended else None

    return await wait_until(done, timeout=timeout, message=f"order {order_id} did not finish")
