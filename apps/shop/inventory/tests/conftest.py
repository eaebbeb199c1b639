"""Fixtures for the inventory's tests: a manual clock, the service in-process, on PostgreSQL, and as a process."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from apps.shop.common.testusers import USERS
from apps.shop.inventory import service as inventory
from sqlalchemy import select
from sqlalchemy.engine import make_url

from baton.events import CloudEvent
from baton.events.tables import outbox
from baton.kit import InstanceSettings

REPO = Path(__file__).resolve().parents[4]


class ManualClock:
    """A wall clock that only moves when told to."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def user_tokens(monkeypatch) -> None:
    """The service trusts the test issuer's access tokens (``SHOP_USER_JWKS``; processes inherit it)."""
    monkeypatch.setenv("SHOP_USER_JWKS", USERS.jwks_json())


@pytest.fixture
def clock(monkeypatch) -> ManualClock:
    """The inventory's clock, under the test's control."""
    manual = ManualClock()
    monkeypatch.setattr(inventory, "clock", manual)
    return manual


@pytest.fixture
def running(clock, monkeypatch) -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with running(tmp_path, db_url=None) as client``: the inventory in-process, seeded, no bus.

    The sweeper runs every 20 ms on the manual clock, so expiries happen when a test advances it.
    """
    monkeypatch.setenv("INVENTORY_SWEEP_INTERVAL", "0.02")

    @contextlib.asynccontextmanager
    async def run(home: Path, db_url: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
        inventory.service.reload_settings()
        try:
            async with inventory.service.running(InstanceSettings(home=home, db_url=db_url)):
                transport = httpx.ASGITransport(app=inventory.service.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://inventory") as http:
                    yield http
        finally:
            inventory.service.reload_settings()

    return run


@pytest.fixture
async def client(running, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The inventory in-process on a fresh SQLite file (see :func:`running`)."""
    async with running(tmp_path) as http:
        yield http


@pytest.fixture
def outbox_events() -> Callable[[], Awaitable[list[CloudEvent]]]:
    """``await outbox_events()``: every event the running inventory put in its outbox, in order."""

    async def read() -> list[CloudEvent]:
        async with inventory.service.transaction() as session:
            payloads = (await session.scalars(select(outbox.c.payload).order_by(outbox.c.seq))).all()
        return [CloudEvent.from_json(p) for p in payloads]

    return read


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    url = make_url(postgres_url)
    name = f"shop_inventory_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
