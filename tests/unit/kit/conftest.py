"""Fixtures for the kit's unit tests: a running service behind an in-process HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from baton.kit import InstanceSettings, Service


@pytest.fixture
def instance_settings(tmp_path: Path) -> InstanceSettings:
    """Settings of an instance whose data lives in the test's tmp dir, without a bus."""
    return InstanceSettings(service="test", instance="test-1", home=tmp_path / "home", nats_url=None, db_url=None)


@pytest.fixture
def serving(
    instance_settings: InstanceSettings,
) -> Callable[[Service], AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with serving(service) as client`` starts the service and gives an httpx client on its app."""

    @asynccontextmanager
    async def serve(service: Service) -> AsyncIterator[httpx.AsyncClient]:
        async with service.running(instance_settings):
            transport = httpx.ASGITransport(app=service.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield client

    return serve
