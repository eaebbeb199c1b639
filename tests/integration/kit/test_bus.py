"""With BATON_NATS_URL set: one named NATS connection, a "bus" readiness check, and the event runtime
publishing what the service emits (real embedded NATS JetStream)."""

from __future__ import annotations

from pathlib import Path

import httpx
import nats
import orjson
import pytest
from apps.hello.service import GREETING_CREATED, service

from baton.events.naming import stream_for, subject_for
from baton.kit import InstanceSettings
from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def test_bus_connection_readiness_and_emitted_events_reach_jetstream(nats_url: str, tmp_path: Path):
    settings = InstanceSettings(home=tmp_path, nats_url=nats_url, instance="hello-bus-1")
    async with service.running(settings) as ctx:
        assert ctx.nats is not None
        assert ctx.nats.is_connected
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hello") as client:
            ready = await client.get("/readyz?verbose")
            created = await client.post("/v1/greetings", json={"name": "Ada"}, headers={"X-Correlation-ID": "bus-corr"})
        observer = await nats.connect(nats_url)
        try:
            jetstream = observer.jetstream()
            stream = stream_for(GREETING_CREATED)

            async def published() -> bool:
                try:
                    return (await jetstream.stream_info(stream)).state.messages >= 1
                except nats.js.errors.NotFoundError:
                    return False

            await wait_until(published, message="greeting event published by the outbox relay")
            message = await jetstream.get_last_msg(stream, subject_for(GREETING_CREATED))
            client_names = await _client_names(observer)
        finally:
            await observer.close()
        await service.begin_shutdown()
        assert service.phase.value == "draining"
    checks = {c["name"]: c["ok"] for c in ready.json()["checks"]}
    assert checks == {
        "shutting_down": True,
        "db": True,
        "maintenance": True,
        "config": True,
        "events": True,
        "discovery": True,
        "bus": True,
    }
    event = orjson.loads(message.data)
    assert event["type"] == GREETING_CREATED
    assert event["source"] == "hello"
    assert event["data"]["id"] == created.json()["id"]
    assert event["correlationid"] == "bus-corr"
    assert "hello-bus-1" in client_names
    assert service.phase.value == "stopped"


async def _client_names(client: nats.NATS) -> list[str]:
    # The server's $SYS API is not enabled on the embedded server; ask the connection list instead.
    reply = await client.request("$SYS.REQ.SERVER.PING.CONNZ", b"{}", timeout=1)
    return [c.get("name", "") for c in orjson.loads(reply.data).get("data", {}).get("connections", [])]


async def test_losing_the_broker_fails_the_bus_check_and_reconnecting_restores_it(nats_server, tmp_path: Path):
    settings = InstanceSettings(home=tmp_path, nats_url=nats_server.url, instance="hello-bus-2")
    async with service.running(settings):
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hello") as client:

            async def bus_ok() -> bool | None:
                checks = (await client.get("/readyz?verbose")).json()["checks"]
                return {c["name"]: c["ok"] for c in checks}.get("bus")

            assert await bus_ok() is True
            nats_server.kill()

            async def bus_down() -> bool:
                response = await client.get("/readyz")
                return response.status_code == 503 and "bus: not connected to NATS" in response.json()["detail"]

            await wait_until(bus_down, timeout=10, message="/readyz reports the bus down")
            nats_server.start()
            await wait_until(bus_ok, timeout=15, message="the client reconnected by itself")
