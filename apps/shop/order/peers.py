"""The services order calls, as small protocols, and their HTTP backend over :class:`~baton.kit.clients.ServiceClients`.

The checkout saga and the price backfill depend on these protocols only, so their unit tests run against
in-memory fakes while the service runs against the real peers. Answers follow ``CONTRACTS.md``:
a business "no" (4xx) raises :class:`~baton.errors.UpstreamRejected` with its ``status`` in ``context``;
an unreachable peer raises a retryable :class:`~baton.errors.CallError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from baton.client import ServiceClient
from baton.errors import UpstreamRejected, UpstreamUnavailable
from baton.kit.clients import ServiceClients


class Stock(Protocol):
    """Inventory reservations."""

    async def reserve(
        self, *, reservation_id: str, order_id: str, lines: Sequence[Mapping[str, Any]], ttl_seconds: int, key: str
    ) -> Mapping[str, Any]:
        """Hold stock for the lines (409 rejected: not enough stock, nothing held); the reservation."""
        ...

    async def commit(self, reservation_id: str, *, key: str) -> None:
        """Turn a held reservation into a sale (rejected when it expired or was released)."""
        ...

    async def release(self, reservation_id: str, *, key: str) -> None:
        """Give held stock back (a no-op for an unknown or released reservation)."""
        ...


class Payments(Protocol):
    """The payment provider."""

    async def authorize(
        self, *, payment_id: str, order_id: str, amount_cents: int, currency: str, card_token: str, key: str
    ) -> Mapping[str, Any]:
        """Authorize the amount (402 rejected: declined); the payment."""
        ...

    async def act(self, payment_id: str, operation: str, *, key: str) -> Mapping[str, Any]:
        """``capture``, ``void`` or ``refund`` the payment (409 rejected: invalid in its state); the payment."""
        ...

    async def status(self, payment_id: str) -> str | None:
        """The payment's status, ``None`` when the provider does not know it."""
        ...


class Catalog(Protocol):
    """The product catalog."""

    async def products(self, *, limit: int, cursor: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
        """One page of products (v1 shape) and the next cursor."""
        ...


class HttpPeers:
    """:class:`Stock`, :class:`Payments` and :class:`Catalog` over HTTP, through the instance's service clients."""

    def __init__(self, clients: ServiceClients) -> None:
        self.clients = clients

    async def reserve(
        self, *, reservation_id: str, order_id: str, lines: Sequence[Mapping[str, Any]], ttl_seconds: int, key: str
    ) -> Mapping[str, Any]:
        """``POST /v1/reservations``."""
        body = {
            "reservation_id": reservation_id,
            "order_id": order_id,
            "lines": list(lines),
            "ttl_seconds": ttl_seconds,
        }
        return await _post(self.clients["inventory"], "/v1/reservations", body, key=key)

    async def commit(self, reservation_id: str, *, key: str) -> None:
        """``POST /v1/reservations/{id}/commit``."""
        await _post(self.clients["inventory"], f"/v1/reservations/{reservation_id}/commit", None, key=key)

    async def release(self, reservation_id: str, *, key: str) -> None:
        """``POST /v1/reservations/{id}/release``."""
        await _post(self.clients["inventory"], f"/v1/reservations/{reservation_id}/release", None, key=key)

    async def authorize(
        self, *, payment_id: str, order_id: str, amount_cents: int, currency: str, card_token: str, key: str
    ) -> Mapping[str, Any]:
        """``POST /v1/payments/authorize``."""
        body = {
            "payment_id": payment_id,
            "order_id": order_id,
            "amount_cents": amount_cents,
            "currency": currency,
            "card_token": card_token,
        }
        return await _post(self.clients["payment"], "/v1/payments/authorize", body, key=key)

    async def act(self, payment_id: str, operation: str, *, key: str) -> Mapping[str, Any]:
        """``POST /v1/payments/{id}/{capture|void|refund}``."""
        return await _post(self.clients["payment"], f"/v1/payments/{payment_id}/{operation}", None, key=key)

    async def status(self, payment_id: str) -> str | None:
        """``GET /v1/payments/{id}`` → its status (``None`` on 404)."""
        try:
            payment = await self.clients["payment"].get_json(f"/v1/payments/{payment_id}")
        except UpstreamRejected as exc:
            if exc.context.get("status") == 404:
                return None
            raise
        return str(payment["status"])

    async def products(self, *, limit: int, cursor: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
        """``GET /v1/products?limit=&cursor=``."""
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = await self.clients["catalog"].get_json("/v1/products", params=params)
        return list(page["items"]), page.get("next_cursor")


async def _post(client: ServiceClient, path: str, body: Any, *, key: str) -> dict[str, Any]:
    try:
        if body is None:
            response = await client.post(path, idempotency_key=key)
        else:
            response = await client.post(path, json=body, idempotency_key=key)
    except UpstreamRejected as exc:
        problem = exc.context.get("problem") or {}
        # The peer's idempotency layer says our earlier try with this key is still running: not a business
        # "no" but a "later", so the saga retries instead of compensating.
        if exc.context.get("status") == 409 and str(problem.get("type", "")).endswith("idempotent-request-in-progress"):
            raise UpstreamUnavailable(exc.message, **exc.context) from exc
        raise
    return dict(response.json()) if response.content else {}
