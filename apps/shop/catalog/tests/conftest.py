"""Fixtures for the catalog's tests: the service in-process (no bus) and as a real process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from apps.shop.catalog.service import service
from apps.shop.common.testusers import USERS
from sqlalchemy import select

from baton.events import CloudEvent
from baton.events.tables import outbox
from baton.kit import InstanceSettings

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(autouse=True)
def user_tokens(monkeypatch) -> None:
    """The service trusts the test issuer's access tokens (``SHOP_USER_JWKS``; processes inherit it)."""
    monkeypatch.setenv("SHOP_USER_JWKS", USERS.jwks_json())


@pytest.fixture
def no_seed(monkeypatch) -> None:
    """Start without the demo catalog (list it before ``client``)."""
    monkeypatch.setenv("CATALOG_SEED", "false")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The catalog running in-process on a fresh SQLite file, seeded, without a bus."""
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)):
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as http:
            yield http
    service.reload_settings()


@pytest.fixture
def outbox_events() -> Callable[[], Awaitable[list[CloudEvent]]]:
    """``await outbox_events()``: every event the running catalog put in its outbox, in order."""

    async def read() -> list[CloudEvent]:
        async with service.transaction() as session:
            payloads = (await session.scalars(select(outbox.c.payload).order_by(outbox.c.seq))).all()
        return [CloudEvent.from_json(p) for p in payloads]

    return read
