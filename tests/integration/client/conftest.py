"""Fixtures for the client's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from baton.testing import FaultProxy

from .client_upstreams import Upstream


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    server = await Upstream("inventory-1").start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(upstream: Upstream) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", upstream.port, seed=11) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def metrics() -> CollectorRegistry:
    return CollectorRegistry()
