"""Fixtures for the inventory's tests: a manual clock, the service in-process, on PostgreSQL, and as a process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from apps.shop.inventory import service as inventory
from sqlalchemy import select
from sqlalchemy.engine import make_url

from baton.events import CloudEvent
from baton.events.server import free_port
from baton.events.tables import outbox
from baton.kit import InstanceSettings
from baton.testing import wait_until_sync

REPO = Path(__file__).resolve().parents[4]


class ManualClock:
    """A wall clock that only moves when told to."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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


@pytest.fixture
def start_inventory(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start_inventory(**env)`` runs ``python -m baton.kit.serve`` for the inventory; returns its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(**extra_env: str) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "INVENTORY_", "OTEL_"))}
        env.update(BATON_SERVICE="inventory", BATON_INSTANCE=f"inventory-{port}", BATON_PORT=str(port))
        env.update(BATON_HOME=str(tmp_path / "home"), **extra_env)
        log_path = tmp_path / f"inventory-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "baton.kit.serve", "apps.shop.inventory.service:service"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        base_url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, f"inventory exited early:\n{log_path.read_text()}"
            try:
                return httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until_sync(ready, timeout=30, message="inventory ready")
        return base_url

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
