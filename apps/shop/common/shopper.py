"""A shop customer (and a member of staff) over HTTP: the flows the demo, the e2e tests and the benchmark drive.

::

    async with httpx.AsyncClient() as http:
        shopper = Shopper(http, gateway="http://127.0.0.1:7780")
        await shopper.register("ada@example.test", "a long password")   # sign up (or not) + log in
        cart = await shopper.open_cart()
        await shopper.add_item(cart, "p-espresso", 2)
        order_id = await shopper.checkout(cart, email="ada@example.test", card_token="tok_visa")
        order = await shopper.wait_final(order_id)

Once logged in, every request carries ``Authorization: Bearer <access token>``; an answer of 401 makes the
shopper use its refresh token once (identity rotates it) and send the request again. Staff are users whose
e-mail identity lists as staff (``IDENTITY_STAFF_EMAILS``): they log in the same way. :meth:`Shopper.fork`
gives another user a shopper on the same connection pool.

Through the gateway every path goes to one address; without it, each service's own address is given
(``Shopper(http, services={"order": "http://127.0.0.1:7803", ...})``). Creating POSTs carry an
``Idempotency-Key``, so a request that met a dead instance, a 5xx, or a ``409`` saying the same key is still in
progress (its first try died with an instance) is sent again safely, for up to ``retry_for`` seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from baton.errors import NotFound, UpstreamRejected, UpstreamUnavailable

__all__ = ["FINAL_STATES", "Shopper"]

T = TypeVar("T")
FINAL_STATES = frozenset({"CONFIRMED", "CANCELLED"})
_RETRY_STATUSES = frozenset({502, 503, 504})
_IN_PROGRESS = "idempotent-request-in-progress"  # the kit's problem type while a key's first request runs


@dataclass
class _Login:
    """One user's tokens, shared by the shoppers of that user (:meth:`Shopper.via`)."""

    user_id: str | None = None
    access: str | None = None
    refresh: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


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
        self._login = _Login()

    @property
    def user_id(self) -> str | None:
        """The logged-in user's id (``None`` before :meth:`log_in`)."""
        return self._login.user_id

    @property
    def access_token(self) -> str | None:
        """The current access token."""
        return self._login.access

    @property
    def refresh_token(self) -> str | None:
        """The current refresh token (each use replaces it)."""
        return self._login.refresh

    def fork(self) -> Shopper:
        """A shopper for another user: same client, addresses and retry policy, not logged in."""
        return Shopper(
            self.http,
            gateway=self.gateway,
            services=None if self.gateway is not None else self.services,
            retry_for=self.retry_for,
            timeout=self.timeout,
        )

    def via(self, *, gateway: str | None = None, services: Mapping[str, str] | None = None) -> Shopper:
        """The same user (one login, shared: a refresh by either is seen by both) through other addresses."""
        other = Shopper(self.http, gateway=gateway, services=services, retry_for=self.retry_for, timeout=self.timeout)
        other._login = self._login
        return other

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
        if self._login.access is not None:
            sent.setdefault("Authorization", f"Bearer {self._login.access}")
        refreshed = False
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
            if (
                answer.status_code == 401
                and not refreshed
                and service != "identity"  # its 401s are about credentials or refresh tokens, not expiry
                and self._login.refresh
                and "Authorization" in sent
            ):
                refreshed = True
                # Expired (or keys rotated): one new pair for every request that met the 401 at once (a second
                # use of the same refresh token would revoke the login), then this request again.
                async with self._login.lock:
                    if sent["Authorization"] == f"Bearer {self._login.access}":
                        await self.refresh()
                sent["Authorization"] = f"Bearer {self._login.access}"
                attempt = 0
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

    # -- identity -----------------------------------------------------------------------------------

    async def sign_up(self, email: str, password: str, *, name: str = "Shopper") -> dict[str, Any]:
        """Create an account (``UpstreamRejected`` with status 409 when the e-mail is taken)."""
        body = {"email": email, "password": password, "name": name}
        user: dict[str, Any] = await self.call("identity", "POST", "/v1/users", json=body, key=uuid.uuid4().hex)
        return user

    async def log_in(self, email: str, password: str) -> None:
        """Log in: keep the access and refresh tokens for the calls that follow."""
        tokens = await self.call("identity", "POST", "/v1/login", json={"email": email, "password": password})
        self._keep(tokens)
        me = await self.call("identity", "GET", "/v1/me")
        self._login.user_id = str(me["id"])

    async def register(self, email: str, password: str, *, name: str = "Shopper") -> Shopper:
        """Sign up unless the account exists, then log in; the shopper."""
        try:
            await self.sign_up(email, password, name=name)
        except UpstreamRejected as exc:
            if exc.context.get("status") != 409:
                raise
        await self.log_in(email, password)
        return self

    async def refresh(self) -> None:
        """Trade the refresh token for a new pair (identity rotates it: the old one is used up)."""
        if self._login.refresh is None:
            raise UpstreamRejected("not logged in: nothing to refresh", status=401, body=None)
        token, self._login.access = self._login.refresh, None
        self._keep(await self.call("identity", "POST", "/v1/refresh", json={"refresh_token": token}))

    async def log_out(self) -> None:
        """Revoke the refresh token's family and forget the tokens."""
        if self._login.refresh is not None:
            await self.call("identity", "POST", "/v1/logout", json={"refresh_token": self._login.refresh})
        self._login.access = self._login.refresh = None

    def _keep(self, tokens: Any) -> None:
        self._login.access = str(tokens["access_token"])
        self._login.refresh = str(tokens["refresh_token"])

    # -- customer -----------------------------------------------------------------------------------

    async def products(self, *, q: str | None = None, limit: int = 20, version: str = "v1") -> list[dict[str, Any]]:
        """A page of the catalog (``v1`` or ``v2`` shape)."""
        params: dict[str, Any] = {"limit": limit}
        if q:
            params["q"] = q
        page = await self.call("catalog", "GET", f"/{version}/products", params=params)
        return list(page["items"])

    async def open_cart(self) -> str:
        """A new empty cart's id (the logged-in user's)."""
        cart = await self.call("order", "POST", "/v1/carts", json={}, key=uuid.uuid4().hex)
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
        key: str | None = None,
    ) -> str:
        """Place the order for a cart (202: its checkout saga runs in the background); the order id."""
        body: dict[str, Any] = {"cart_id": cart_id, "email": email, "card_token": card_token}
        accepted = await self.call("order", "POST", "/v1/orders", json=body, key=key or uuid.uuid4().hex)
        return str(accepted["order_id"])

    async def order(self, order_id: str) -> dict[str, Any]:
        """An order as the order service has it."""
        order: dict[str, Any] = await self.call("order", "GET", f"/v1/orders/{order_id}")
        return order

    async def orders(self, *, customer_id: str | None = None) -> list[dict[str, Any]]:
        """Every order of the logged-in customer, or (staff) of ``customer_id`` (all pages)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if customer_id:
                params["customer_id"] = customer_id
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

    # -- staff --------------------------------------------------------------------------------------

    async def messages(self, *, to: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """E-mails the mail sink received, newest first (logged in as staff: they hold customers' addresses)."""
        params: dict[str, Any] = {"limit": limit}
        if to:
            params["to"] = to
        page = await self.call("mailsink", "GET", "/v1/messages", params=params)
        return list(page["items"])

    async def set_price(self, product_id: str, price_cents: int) -> dict[str, Any]:
        """Change a product's price (logged in as staff); the product."""
        product: dict[str, Any] = await self.call(
            "catalog",
            "PUT",
            f"/v1/products/{product_id}/price",
            json={"price_cents": price_cents},
            key=uuid.uuid4().hex,
        )
        return product

    async def set_stock(self, product_id: str, on_hand: int) -> dict[str, Any]:
        """Count the units on hand (logged in as staff); the stock."""
        stock: dict[str, Any] = await self.call(
            "inventory",
            "PUT",
            f"/v1/stock/{product_id}",
            json={"on_hand": on_hand},
            key=uuid.uuid4().hex,
        )
        return stock


def _json_or_text(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text
