"""Steps the order tests share: fill a cart, check out, wait for the order's final state."""

from __future__ import annotations

from typing import Any

import httpx

from baton.testing import wait_until


async def cart_with(http: httpx.AsyncClient, *lines: tuple[str, int], customer_id: str | None = None) -> str:
    created = await http.post("/v1/carts", json={"customer_id": customer_id} if customer_id else None)
    assert created.status_code == 201, created.text
    cart_id = str(created.json()["cart_id"])
    for product_id, quantity in lines:
        added = await http.post(f"/v1/carts/{cart_id}/items", json={"product_id": product_id, "quantity": quantity})
        assert added.status_code == 200, added.text
    return cart_id


async def checkout(
    http: httpx.AsyncClient, cart_id: str, *, card_token: str = "tok_visa", key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    body = {"cart_id": cart_id, "email": "ada@example.com", "card_token": card_token}
    return await http.post("/v1/orders", json=body, headers=headers)


async def final_order(http: httpx.AsyncClient, order_id: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The order once it is CONFIRMED or CANCELLED and its saga has ended."""

    async def done() -> dict[str, Any] | None:
        order: dict[str, Any] = (await http.get(f"/v1/orders/{order_id}")).json()
        saga = order.get("saga") or {}
        ended = order["status"] != "PENDING" and saga.get("status") in ("completed", "compensated")
        return order if ended else None

    return await wait_until(done, timeout=timeout, message=f"order {order_id} did not finish")
