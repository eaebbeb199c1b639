"""In-memory peers for the order service's unit tests: inventory, payment and catalog as the contracts describe them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from baton.errors import UpstreamRejected, UpstreamUnavailable


def rejected(target: str, status: int, detail: str) -> UpstreamRejected:
    return UpstreamRejected(
        f"{target} answered {status}: {detail}", target=target, status=status, problem={"detail": detail}
    )


@dataclass
class FakeStock:
    """Inventory: on-hand and reserved per product, reservations held / committed / released / expired."""

    on_hand: dict[str, int] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=dict)
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: int = 0
    """Raise a transient error on this many next calls (a peer outage)."""
    refuse_commit: bool = False
    gate: asyncio.Event | None = None
    """When set, ``reserve`` waits for it after holding the stock (to act between two saga steps)."""
    calls: list[tuple[str, str]] = field(default_factory=list)

    def _maybe_fail(self, call: str, reservation_id: str) -> None:
        self.calls.append((call, reservation_id))
        if self.fail_next:
            self.fail_next -= 1
            raise UpstreamUnavailable("inventory answered 503", target="inventory", status=503)

    async def reserve(
        self, *, reservation_id: str, order_id: str, lines: Sequence[Mapping[str, Any]], ttl_seconds: int, key: str
    ) -> Mapping[str, Any]:
        self._maybe_fail("reserve", reservation_id)
        if reservation_id in self.reservations:
            return self.reservations[reservation_id]
        for line in lines:
            available = self.on_hand.get(line["product_id"], 0) - self.reserved.get(line["product_id"], 0)
            if available < line["quantity"]:
                raise rejected("inventory", 409, f"insufficient stock for {line['product_id']}")
        for line in lines:
            self.reserved[line["product_id"]] = self.reserved.get(line["product_id"], 0) + line["quantity"]
        held = {
            "reservation_id": reservation_id,
            "status": "held",
            "expires_at": time.time() + ttl_seconds,
            "lines": [dict(line) for line in lines],
        }
        self.reservations[reservation_id] = held
        if self.gate is not None:
            await self.gate.wait()
        return held

    async def commit(self, reservation_id: str, *, key: str) -> None:
        self._maybe_fail("commit", reservation_id)
        held = self.reservations.get(reservation_id)
        if self.refuse_commit or held is None or held["status"] in ("released", "expired"):
            raise rejected("inventory", 409, f"reservation {reservation_id} is not held")
        if held["status"] == "held":
            for line in held["lines"]:
                self.reserved[line["product_id"]] -= line["quantity"]
                self.on_hand[line["product_id"]] -= line["quantity"]
            held["status"] = "committed"

    async def release(self, reservation_id: str, *, key: str) -> None:
        self._maybe_fail("release", reservation_id)
        held = self.reservations.get(reservation_id)
        if held is not None and held["status"] == "held":
            for line in held["lines"]:
                self.reserved[line["product_id"]] -= line["quantity"]
            held["status"] = "released"

    def expire(self, reservation_id: str) -> None:
        """What inventory's sweeper does to a held reservation past its TTL."""
        held = self.reservations[reservation_id]
        for line in held["lines"]:
            self.reserved[line["product_id"]] -= line["quantity"]
        held["status"] = "expired"


@dataclass
class FakePayments:
    """The payment provider: ``tok_decline`` declines; the state machine of ``CONTRACTS.md``."""

    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse_capture: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def authorize(
        self, *, payment_id: str, order_id: str, amount_cents: int, currency: str, card_token: str, key: str
    ) -> Mapping[str, Any]:
        self.calls.append(("authorize", payment_id))
        if payment_id not in self.payments:
            status = "declined" if card_token == "tok_decline" else "authorized"
            self.payments[payment_id] = {"payment_id": payment_id, "amount_cents": amount_cents, "status": status}
        payment = self.payments[payment_id]
        if payment["status"] == "declined":
            raise rejected("payment", 402, "card declined")
        return payment

    async def act(self, payment_id: str, operation: str, *, key: str) -> Mapping[str, Any]:
        self.calls.append((operation, payment_id))
        payment = self.payments.setdefault(payment_id, {"payment_id": payment_id, "amount_cents": 0, "status": None})
        moves = {
            ("capture", "authorized"): "captured",
            ("void", "authorized"): "voided",
            ("void", None): "voided",
            ("refund", "captured"): "refunded",
        }
        done = {("capture", "captured"), ("capture", "refunded"), ("void", "voided"), ("refund", "refunded")}
        current = payment["status"]
        if operation == "capture" and self.refuse_capture:
            raise rejected("payment", 409, "capture refused")
        if (operation, current) in moves:
            payment["status"] = moves[(operation, current)]
        elif (operation, current) not in done:
            raise rejected("payment", 409, f"cannot {operation} a {current} payment")
        return payment

    async def status(self, payment_id: str) -> str | None:
        payment = self.payments.get(payment_id)
        return None if payment is None else payment["status"]

    def total(self, status: str) -> int:
        return sum(p["amount_cents"] for p in self.payments.values() if p["status"] == status)


@dataclass
class FakeCatalog:
    """The catalog's ``GET /v1/products`` pages; fails ``fail_first`` times before answering."""

    items: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0
    calls: int = 0

    async def products_page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        start = int(cursor or 0)
        page = self.items[start : start + limit]
        more = start + limit < len(self.items)
        return page, str(start + limit) if more else None

    async def products(self, *, limit: int, cursor: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
        self.calls += 1
        if self.fail_first:
            self.fail_first -= 1
            raise UpstreamUnavailable("catalog answered 503", target="catalog", status=503)
        items, next_cursor = await self.products_page(limit, cursor)
        return list(items), next_cursor


def product(product_id: str, price_cents: int, *, version: int = 1, currency: str = "EUR") -> dict[str, Any]:
    """A product in the catalog's v1 shape."""
    return {
        "id": product_id,
        "sku": product_id.upper(),
        "name": product_id,
        "description": "",
        "price_cents": price_cents,
        "currency": currency,
        "category_id": "c1",
        "version": version,
    }
