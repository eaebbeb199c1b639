"""Fixtures for the catalog's tests: the service in-process (no bus) and as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from apps.shop.catalog.service import service
from sqlalchemy import select

from baton.events import CloudEvent
from baton.events.server import free_port
from baton.events.tables import outbox
from baton.kit import InstanceSettings
from baton.testing import wait_until_sync

REPO = Path(__file__).resolve().parents[4]


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


@pytest.fixture
def start_catalog(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start_catalog(**env)`` runs ``python -m baton.kit.serve`` for the catalog; returns its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(**extra_env: str) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "CATALOG_", "OTEL_"))}
        env.update(BATON_SERVICE="catalog", BATON_INSTANCE=f"catalog-{port}", BATON_PORT=str(port))
        env.update(BATON_HOME=str(tmp_path / "home"), **extra_env)
        log_path = tmp_path / f"catalog-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "baton.kit.serve", "apps.shop.catalog.service:service"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        base_url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, f"catalog exited early:\n{log_path.read_text()}"
            try:
                return httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until_sync(ready, timeout=30, message="catalog ready")
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
