"""Baton's pytest plugin (registered through the ``pytest11`` entry point).

Fixtures:
    nats_server:   a real embedded NATS JetStream server on a free port with its own store (function scope).
    nats_url:      its client URL.
    postgres_url:  ``BATON_TEST_POSTGRES_URL``; skipped when unset, *failed* when ``BATON_REQUIRE_SCALEOUT=1``.
    redis_url:     ``BATON_TEST_REDIS_URL``; same rule.
    launch_service: start kit services as real processes (:class:`baton.testing.processes.ServiceLauncher`);
                   every instance still running at the end of the test is stopped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from baton.events.server import EmbeddedNats, NatsServerConfig, free_port
from baton.testing.processes import ServiceLauncher


def scaleout_url(env_var: str) -> str:
    """Return the URL in ``env_var`` or skip (fail when ``BATON_REQUIRE_SCALEOUT=1``)."""
    url = os.environ.get(env_var)
    if url:
        return url
    reason = f"{env_var} is not set; this scale-out backend test needs it"
    if os.environ.get("BATON_REQUIRE_SCALEOUT") == "1":
        pytest.fail(reason + " (BATON_REQUIRE_SCALEOUT=1 makes a skip a failure)")
    pytest.skip(reason)


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    """A fresh embedded NATS JetStream server on a free port."""
    config = NatsServerConfig(store_dir=tmp_path / "nats", port=free_port(), monitor_port=None)
    async with EmbeddedNats(config) as server:
        yield server


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    """Client URL of :func:`nats_server`."""
    return nats_server.url


@pytest.fixture
def postgres_url() -> str:
    """SQLAlchemy URL of the test PostgreSQL (``postgresql+asyncpg://...``)."""
    url = scaleout_url("BATON_TEST_POSTGRES_URL")
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    return url


@pytest.fixture
def redis_url() -> str:
    """URL of the test Redis."""
    return scaleout_url("BATON_TEST_REDIS_URL")


@pytest.fixture
def launch_service(tmp_path: Path, pytestconfig: pytest.Config) -> Iterator[ServiceLauncher]:
    """``launch_service("apps.x.service:service", service="x", env={...})`` → a ready :class:`ServiceProcess`.

    Processes run from the pytest root directory, so ``apps.*`` modules import as they do in the tests.
    """
    launcher = ServiceLauncher(tmp_path / "services", cwd=pytestconfig.rootpath)
    yield launcher
    launcher.stop_all()
