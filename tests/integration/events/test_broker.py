"""The broker is embedded (started, or reused when already running) unless an external URL is configured."""

from __future__ import annotations

import pytest

from baton.events import broker, connect
from baton.events.server import free_port, port_answers, speaks_nats

pytestmark = pytest.mark.integration


async def test_embedded_server_starts_under_home_and_is_reused_by_a_second_user(tmp_path) -> None:
    port = free_port()
    async with broker(tmp_path, port=port, monitor_port=None) as first:
        assert not first.reused
        assert first.url == f"nats://127.0.0.1:{port}"
        assert (tmp_path / "nats" / "nats-server.conf").read_text().count("sync_interval: always") == 1
        client = await connect(first.url)
        info = await client.jetstream().account_info()  # JetStream is on
        assert info.limits is not None
        async with broker(tmp_path / "elsewhere", port=port, monitor_port=None) as second:
            assert second.reused
            assert second.url == first.url
        assert speaks_nats("127.0.0.1", port)  # the reuser did not stop the owner's server
        await client.close()
    assert not port_answers("127.0.0.1", port)  # the owner did


async def test_external_url_starts_nothing(tmp_path, nats_url) -> None:
    home = tmp_path / "home"  # tmp_path/nats is the fixture server's own store
    async with broker(home, url=nats_url) as external:
        assert external.server is None
        assert external.url == nats_url
        client = await connect(external.url)
        assert client.is_connected
        await client.close()
    assert not (home / "nats").exists()
