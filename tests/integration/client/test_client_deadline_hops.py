"""One deadline across two hops: client ▸ A (DeadlineMiddleware, calls B) ▸ B (too slow)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from baton.client import ServiceClient
from baton.errors import CallError, DeadlineExceeded
from baton.events.server import free_port
from baton.resilience import Policy, TimeoutPolicy, deadline
from baton.resilience.deadline import DeadlineMiddleware
from baton.testing import wait_until

from .client_upstreams import Upstream

pytestmark = pytest.mark.integration
# A's own policy would allow B 5 s per try and 30 s overall: only the travelling deadline can cut it short.
GENEROUS = Policy(retry=None, breaker=None, timeout=TimeoutPolicy(per_try=5.0, total=30.0))


class ServiceA:
    """Service A: ``GET /checkout`` calls B's ``/item`` with a client whose own timeouts are generous."""

    def __init__(self, b_port: int) -> None:
        self.port = free_port()
        self.budgets: list[float | None] = []
        self.errors: list[BaseException] = []
        self.client = ServiceClient(
            "inventory", base_url=f"http://127.0.0.1:{b_port}", policies=GENEROUS, metrics_registry=CollectorRegistry()
        )
        app = Starlette(routes=[Route("/checkout", self.checkout)])
        self.server = uvicorn.Server(
            uvicorn.Config(
                DeadlineMiddleware(app), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
        )

    async def checkout(self, request: Request) -> JSONResponse:
        self.budgets.append(deadline.remaining())
        try:
            await self.client.get("/item")
        except DeadlineExceeded as exc:
            self.errors.append(exc)
            return JSONResponse({"title": "Deadline exceeded", "status": 504}, status_code=504)
        return JSONResponse({"ok": True})


@pytest.fixture
async def hops() -> AsyncIterator[tuple[ServiceA, Upstream]]:
    b = await Upstream("inventory-b", delay=1.0).start()
    a = ServiceA(b.port)
    serving = asyncio.create_task(a.server.serve())
    await wait_until(lambda: a.server.started, timeout=5)
    try:
        yield a, b
    finally:
        a.server.should_exit = True
        await serving
        await a.client.aclose()
        await b.stop()


async def test_deadline_expires_across_two_hops(hops: tuple[ServiceA, Upstream]) -> None:
    a, b = hops
    async with ServiceClient(
        "order", base_url=f"http://127.0.0.1:{a.port}", policies=GENEROUS, metrics_registry=CollectorRegistry()
    ) as client:
        started = time.monotonic()
        with pytest.raises(CallError) as info:
            await client.get("/checkout", timeout=0.5)
        elapsed = time.monotonic() - started
    # The caller's timer and A's answer race at the same instant: either way the call ends as a deadline.
    assert isinstance(info.value, DeadlineExceeded) or info.value.context.get("status") == 504
    assert elapsed < 0.9  # not B's 1 s, not A's own 5 s per try
    # A ran under the caller's budget and passed what was left on to B.
    [budget_at_a] = a.budgets
    assert budget_at_a is not None
    assert 0.3 < budget_at_a <= 0.5
    await wait_until(lambda: b.hits == 1, timeout=2)
    assert 0 < int(b.deadlines[0]) <= int(budget_at_a * 1000)
    await wait_until(lambda: a.errors, timeout=2, message="A's nested call must end with DeadlineExceeded")


async def test_spent_budget_is_refused_at_the_door(hops: tuple[ServiceA, Upstream]) -> None:
    a, b = hops
    # A raw caller: ServiceClient itself never sends a spent budget.
    url = f"http://127.0.0.1:{a.port}/checkout"
    async with aiohttp.ClientSession() as session, session.get(url, headers={"X-Request-Deadline": "0"}) as answer:
        assert answer.status == 504
        assert answer.headers["content-type"] == "application/problem+json"
    assert a.budgets == []  # A's handler never ran
    assert b.hits == 0
