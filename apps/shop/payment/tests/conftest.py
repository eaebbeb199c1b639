"""Fixtures for the payment service's own tests: the service in-process on a real SQLite file (no bus)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from apps.shop.common.testusers import USERS
from apps.shop.payment.service import service

from baton.kit import InstanceSettings


@pytest.fixture(autouse=True)
def user_tokens(monkeypatch) -> None:
    """The service trusts the test issuer's access tokens (``SHOP_USER_JWKS``; processes inherit it)."""
    monkeypatch.setenv("SHOP_USER_JWKS", USERS.jwks_json())


@pytest.fixture
def payment_env(monkeypatch):
    """Set ``PAYMENT_*`` variables for the next start (the settings are re-read)."""

    def apply(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"PAYMENT_{name.upper()}", str(value))
        service.reload_settings()

    yield apply
    service.reload_settings()


@pytest.fixture
async def client(tmp_path: Path, payment_env):
    async with service.running(InstanceSettings(home=tmp_path)):
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://payment") as http:
            yield http
