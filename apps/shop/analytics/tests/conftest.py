"""Fixtures for the analytics tests: the service in-process, events to feed it, and the service as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apps.shop.analytics.events import ORDER_CANCELLED, ORDER_CONFIRMED, PRODUCT_CREATED
from apps.shop.analytics.service import service

from baton.events import CloudEvent
from baton.events.server import free_port
from baton.kit import InstanceContext, InstanceSettings
from baton.testing import wait_until_sync

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[InstanceContext, httpx.AsyncClient]]:
    """The analytics service in-process on a fresh SQLite file (no bus): its context and an HTTP client."""
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)) as ctx:
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as http:
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


@pytest.fixture
def start_analytics(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start_analytics(**env)`` runs ``python -m baton.kit.serve`` for analytics; returns its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(**extra_env: str) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "ANALYTICS_", "OTEL_"))}
        env.update(BATON_SERVICE="analytics", BATON_INSTANCE=f"analytics-{port}", BATON_PORT=str(port))
        env.update(BATON_HOME=str(tmp_path / "home"), **extra_env)
        log_path = tmp_path / f"analytics-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "baton.kit.serve", "apps.shop.analytics.service:service"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        base_url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, f"analytics exited early:\n{log_path.read_text()}"
            try:
                return httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until_sync(ready, timeout=30, message="analytics ready")
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
