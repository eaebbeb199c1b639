"""Fixtures for the order service's own tests: the service in-process on a real SQLite file, with fake peers."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from apps.shop.common.testusers import USERS
from apps.shop.order import wiring
from apps.shop.order.service import service

from baton.kit import InstanceSettings

sys.path.insert(0, str(Path(__file__).parent))

from order_fakes import FakeCatalog, FakePayments, FakeStock, product


@dataclass
class Shop:
    """The order service under test and the fakes around it."""

    http: httpx.AsyncClient
    stock: FakeStock
    payments: FakePayments
    catalog: FakeCatalog


@pytest.fixture(autouse=True)
def user_tokens(monkeypatch) -> None:
    """The service trusts the test issuer's access tokens (``SHOP_USER_JWKS``; processes inherit it)."""
    monkeypatch.setenv("SHOP_USER_JWKS", USERS.jwks_json())


@pytest.fixture
def fakes(monkeypatch):
    stock = FakeStock(on_hand={"p1": 10, "p2": 5})
    payments = FakePayments()
    catalog = FakeCatalog(items=[product("p1", 1000), product("p2", 250)])
    monkeypatch.setattr(wiring.checkout, "stock", stock)
    monkeypatch.setattr(wiring.checkout, "payments", payments)
    monkeypatch.setattr(wiring, "catalog", catalog)
    # The real HTTP clients are built but never called: the fakes stand in for every peer.
    monkeypatch.setenv("BATON_SERVICE_URLS", '{"inventory": "http://127.0.0.1:9"}')
    monkeypatch.setenv("ORDER_ORPHAN_AFTER_SECONDS", "0.5")
    monkeypatch.setenv("ORDER_ORPHAN_SWEEP_INTERVAL", "0.2")
    service.reload_settings()
    yield stock, payments, catalog
    service.reload_settings()


@pytest.fixture
async def shop(tmp_path: Path, fakes):
    stock, payments, catalog = fakes
    async with service.running(InstanceSettings(home=tmp_path)):
        async with asyncio.timeout(10):
            await wiring.backfill.wait()
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://order", headers=USERS.headers("cust-1")
        ) as http:
            yield Shop(http, stock, payments, catalog)
