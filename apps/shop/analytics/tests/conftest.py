"""Fixtures for the analytics tests: the service in-process, events to feed it, and the service as a process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apps.shop.analytics.events import ORDER_CANCELLED, ORDER_CONFIRMED, PRODUCT_CREATED
from apps.shop.analytics.service import service
from apps.shop.common.testusers import STAFF, USERS

from baton.events import CloudEvent
from baton.kit import InstanceContext, InstanceSettings

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(autouse=True)
def user_tokens(monkeypatch) -> None:
    """The service trusts the test issuer's access tokens (``SHOP_USER_JWKS``; processes inherit it)."""
    monkeypatch.setenv("SHOP_USER_JWKS", USERS.jwks_json())


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[InstanceContext, httpx.AsyncClient]]:
    """The analytics service in-process on a fresh SQLite file (no bus): its context and an HTTP client."""
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)) as ctx:
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://analytics", headers=USERS.headers("staff-1", roles=STAFF)
        ) as http:
            yield ctx, http


@pytest.fixture
def client(running) -> httpx.AsyncClient:
    """HTTP client of :func:`running`."""
    return running[1]


class Events:
    """Builds the events analytics consumes, as their producers emit them."""

    @staticmethod
    def product_created(product_id: str, name: str) -> CloudEvent:
        data = {"product_id": product_id, "sku": product_id.upper(), "name": name, "price_cents": 100}
        data |= {"currency": "EUR", "category_id": "c-1", "version": 1}
        return CloudEvent.create(type=PRODUCT_CREATED, source="catalog", subject=product_id, data=data)

    @staticmethod
    def confirmed(order_id: str, *lines: tuple[str, int, int], customer: str | None = "cust-1") -> CloudEvent:
        items = [{"product_id": p, "quantity": q, "unit_price_cents": c} for p, q, c in lines]
        data: dict[str, Any] = {"order_id": order_id, "customer_id": customer, "email": "ada@example.com"}
        data |= {"lines": items, "total_cents": sum(q * c for _, q, c in lines), "currency": "EUR"}
        return CloudEvent.create(type=ORDER_CONFIRMED, source="order", subject=order_id, data=data)

    @staticmethod
    def cancelled(order_id: str, total: int, *, was_confirmed: bool, customer: str | None = "cust-1") -> CloudEvent:
        data = {"order_id": order_id, "customer_id": customer, "email": "ada@example.com", "reason": "refunded"}
        data |= {"total_cents": total, "currency": "EUR", "was_confirmed": was_confirmed}
        return CloudEvent.create(type=ORDER_CANCELLED, source="order", subject=order_id, data=data)


@pytest.fixture
def events() -> type[Events]:
    """Event builders."""
    return Events
