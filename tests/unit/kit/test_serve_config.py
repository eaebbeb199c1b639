"""The instance's server configuration: idle keep-alive connections outlive the clients' pools."""

from __future__ import annotations

import pytest

from baton.kit.serve import server_config
from baton.kit.settings import InstanceSettings

#: How long common clients keep an idle connection pooled: the kit's (aiohttp), httpx, the gateway's.
CLIENT_POOLS = {"aiohttp": 15.0, "httpx": 5.0, "gateway": 4.0}


async def _app(scope: object, receive: object, send: object) -> None:  # pragma: no cover - never called
    raise AssertionError


def test_idle_connections_stay_open_longer_than_any_client_pools_them() -> None:
    config = server_config(_app, InstanceSettings(service="hello"), {"http": "httptools"})
    assert config.timeout_keep_alive == 75
    assert all(config.timeout_keep_alive > seconds for seconds in CLIENT_POOLS.values())


@pytest.mark.parametrize(("keep_alive", "expected"), [(30.0, 30), (0.2, 1)])
def test_keep_alive_comes_from_the_settings(keep_alive: float, expected: int) -> None:
    settings = InstanceSettings(service="hello", keep_alive=keep_alive)
    config = server_config(_app, settings, {"http": "httptools"})
    assert config.timeout_keep_alive == expected
    assert config.port == settings.port
    assert config.server_header is False
    assert config.access_log is False
