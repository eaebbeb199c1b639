"""A shop customer (and a member of staff) over HTTP: the flows the demo, the e2e tests and the benchmark drive.

::

    async with httpx.AsyncClient() as http:
        shopper = Shopper(http, gateway="http://127.0.0.1:7780")
        cart = await shopper.open_cart(customer_id="ada")
        await shopper.add_item(cart, "p-espresso", 2)
        order_id = await shopper.checkout(cart, email="ada@example.test", card_token="tok_visa")
        order = await shopper.wait_final(order_id)

Through the gateway every path goes to one address; without it, each service's own address is given
(``Shopper(http, services={"order": "http://127.0.0.1:7803", ...})``). Creating POSTs carry an
``Idempotency-Key``, so a request that met a dead instance, a 5xx, or a ``409`` saying the same key is still in
progress (its first try died with an instance) is sent again safely, for up to ``retry_for`` seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from baton.errors import NotFound, UpstreamRejected, UpstreamUnavailable

__all__ = ["FINAL_STATES", "STAFF_HEADERS", "Shopper"]

T = TypeVar("T")
FINAL_STATES = frozenset({"CONFIRMED", "CANCELLED"})
STAFF_HEADERS = {"X-Baton-Role": "staff"}
"""How staff are recognised until the security work replaces it with a token (catalog and inventory)."""
_RETRY_STATUSES = frozenset({502, 503, 504})
_IN_PROGRESS = "idempotent-request-in-progress"  # the kit's problem type while a key's first request runs


class Shopper:
    """Drives the shop's public API; answers are the JSON bodies of ``CONTRACTS.md``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        gateway: str | None = None,
        services: Mapping[str, str] | None = None,
        retry_for: float = 15.0,
        timeout: float = 10.0,
    ) -> None:
        """
        Args:
            http: the client to send with (its pool is shared by every call).
            gateway: the gateway's base URL; every service is reached through it.
            services: otherwise, each service's base URL (catalog, inventory, order, payment, ...).
            retry_for: seconds a request is tried again while the answer is transient (connection error,
                502/503/504, key in progress).
            timeout: seconds per try.
        """
        if (gateway is None) == (services is None):
            raise ValueError("give exactly one of gateway or services")
        self.http = http
        self.gateway = gateway
        self.services = dict(services or {})
        self.retry_for = retry_for
        self.timeout = timeout

    def base(self, service: str) -> str:
        """The base URL requests for ``service`` go to."""
        if self.gateway is not None:
            return self.gateway
        try:
            return self.services[service]
        except KeyError:
            raise UpstreamUnavailable(f"no address for {service}") from None

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> Any:
        """Send a request (retrying transient failures) and return the JSON body.

        Raises:
            NotFound: the answer was 404.
            UpstreamRejected: any other 4xx (``context["status"]``, ``context["body"]``).
            UpstreamUnavailable: still failing after ``retry_for`` seconds.
        """
        sent = dict(headers or {})
        if key is not None:
            sent["Idempotency-Key"] = key
        url = self.base(service) + path
        last = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for
        attempt = 0
        while attempt == 0 or loop.time() < deadline:
            if attempt:
                # Backoff between tries of one request, not a wait for some other event.
                await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
            attempt += 1
            try:
                answer = await self.http.request(
                    method, url, json=json, params=params, headers=sent, timeout=self.timeout
                )
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                if method != "GET" and key is None and not isinstance(exc, httpx.ConnectError):
                    break  # the request may have been applied; without a key, sending it again is not safe
                continue
            if answer.status_code in _RETRY_STATUSES and (method == "GET" or key is not None):
                last = f"{answer.status_code} {answer.text[:200]}"
                continue
            if answer.status_code == 409 and _IN_PROGRESS in answer.text:
                last = "409 idempotency key in progress"
                continue
            if answer.status_code == 404:
                raise NotFound(f"{method} {path}: {answer.text[:200]}", status=404)
            if answer.status_code >= 400:
                body = _json_or_text(answer)
                raise UpstreamRejected(
                    f"{method} {path}: {answer.status_code} {body}", status=answer.status_code, body=body
                )
            return _json_or_text(answer)
        raise UpstreamUnavailable(f"{method} {path} failed after {attempt} tries in {self.retry_for:g}s: {last}")

    # -- customer -----------------------------------------------------------------------------------

    async def products(self, *, q: str | None = None, limit: int = 20, version: str = "v1") -> list[dict[str, Any]]:
        """A page of the catalog (``v1`` or ``v2`` shape)."""
        params: dict[str, Any] = {"limit": limit}
        if q:
            params["q"] = q
        page = await self.call("catalog", "GET", f"/{version}/products", params=params)
        return list(page["items"])

    async def open_cart(self, *, customer_id: str | None = None) -> str:
        """A new empty cart's id."""
        body = {"customer_id": customer_id} if customer_id else {}
        cart = await self.call("order", "POST", "/v1/carts", json=body, key=uuid.uuid4().hex)
        return str(cart["cart_id"])

    async def add_item(self, cart_id: str, product_id: str, quantity: int = 1) -> dict[str, Any]:
        """Put ``quantity`` of a product in the cart; the cart."""
        body = {"product_id": product_id, "quantity": quantity}
        cart: dict[str, Any] = await self.call(
            "order", "POST", f"/v1/carts/{cart_id}/items", json=body, key=uuid.uuid4().hex
        )
        return cart

    async def checkout(
        self,
        cart_id: str,
        *,
        email: str,
        card_token: str = "tok_visa",
        customer_id: str | None = None,
        key: str | None = None,
    ) -> str:
        """Place the order for a cart (202: its checkout saga runs in the background); the order id."""
        body: dict[str, Any] = {"cart_id": cart_id, "email": email, "card_token": card_token}
        if customer_id:
            body["customer_id"] = customer_id
        accepted = await self.call("order", "POST", "/v1/orders", json=body, key=key or uuid.uuid4().hex)
        return str(accepted["order_id"])

    async def order(self, order_id: str) -> dict[str, Any]:
        """An order as the order service has it."""
        order: dict[str, Any] = await self.call("order", "GET", f"/v1/orders/{order_id}")
        return order

    async def orders(self, *, customer_id: str) -> list[dict[str, Any]]:
        """Every order of a customer (all pages)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"customer_id": customer_id, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = await self.call("order", "GET", "/v1/orders", params=params)
            found.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    async def eventually(
        self, probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, interval: float = 0.1
    ) -> T:
        """The first non-``None`` answer of ``probe``, asked every ``interval`` seconds (the shop is eventually
        consistent: e-mails, read models and sagas catch up after the request that caused them).

        Raises:
            TimeoutError: ``probe`` still answered ``None`` after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while True:
                found = await probe()
                if found is not None:
                    return found
                await asyncio.sleep(interval)

    async def wait_final(self, order_id: str, *, timeout: float = 60.0, interval: float = 0.1) -> dict[str, Any]:
        """The order once it is CONFIRMED or CANCELLED.

        Raises:
            TimeoutError: it was still in flight after ``timeout`` seconds.
        """

        async def final() -> dict[str, Any] | None:
            order = await self.order(order_id)
            return order if order["status"] in FINAL_STATES else None

        return await self.eventually(final, timeout=timeout, interval=interval)

    async def price(self, product_id: str) -> dict[str, Any]:
        """The price order would charge now (its read model)."""
        price: dict[str, Any] = await self.call("order", "GET", f"/v1/prices/{product_id}")
        return price

    async def stock(self, product_id: str) -> dict[str, Any]:
        """``{product_id, on_hand, reserved, available}``."""
        stock: dict[str, Any] = await self.call("inventory", "GET", f"/v1/stock/{product_id}")
        return stock

    async def messages(self, *, to: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """E-mails the mail sink received, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if to:
            params["to"] = to
        page = await self.call("mailsink", "GET", "/v1/messages", params=params)
        return list(page["items"])

    # -- staff --------------------------------------------------------------------------------------

    async def set_price(self, product_id: str, price_cents: int) -> dict[str, Any]:
        """Change a product's price (staff); the product."""
        product: dict[str, Any] = await self.call(
            "catalog",
            "PUT",
            f"/v1/products/{product_id}/price",
            json={"price_cents": price_cents},
            headers=STAFF_HEADERS,
            key=uuid.uuid4().hex,
        )
        return product

    async def set_stock(self, product_id: str, on_hand: int) -> dict[str, Any]:
        """Count the units on hand (staff); the stock."""
        stock: dict[str, Any] = await self.call(
            "inventory",
            "PUT",
            f"/v1/stock/{product_id}",
            json={"on_hand": on_hand},
            headers=STAFF_HEADERS,
            key=uuid.uuid4().hex,
        )
        return stock


def _json_or_text(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text
