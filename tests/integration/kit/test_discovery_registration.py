"""A real ``python -m baton.kit.serve`` process on real NATS: in discovery while ready, out when unready or
shutting down, back on recovery."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import nats
import pytest

from baton.discovery import NatsKvRegistry
from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def _ids(registry: NatsKvRegistry) -> list[str]:
    return sorted(i.id for i in await registry.resolve("hello"))


async def _until_ids(registry: NatsKvRegistry, expected: list[str], message: str) -> None:
    async def listed() -> bool:
        return await _ids(registry) == expected

    await wait_until(listed, interval=0.1, message=message)


async def test_ready_instance_is_registered_leaves_when_unready_and_comes_back(start_hello, nats_url, tmp_path: Path):
    maintenance = tmp_path / "maintenance"
    hello = start_hello(BATON_NATS_URL=nats_url, HELLO_MAINTENANCE_FILE=str(maintenance))
    instance_id = f"hello-{hello.base_url.rsplit(':', 1)[1]}"
    nc = await nats.connect(nats_url)
    registry = NatsKvRegistry(nc)
    try:
        await _until_ids(registry, [instance_id], "hello registered once ready")
        [record] = await registry.resolve("hello")
        assert record.id == instance_id
        assert record.base_url == hello.base_url  # the address it really listens on
        async with httpx.AsyncClient(base_url=record.base_url) as client:
            assert (await client.get("/v1/hello")).status_code == 200

        maintenance.touch()  # a readiness check fails: out of rotation, the process keeps running
        await _until_ids(registry, [], "hello deregistered when unready")
        assert hello.process.poll() is None
        async with httpx.AsyncClient(base_url=hello.base_url) as client:
            unready = await client.get("/readyz")
        assert unready.status_code == 503
        assert "maintenance" in unready.json()["detail"]

        maintenance.unlink()  # recovered: back in rotation
        await _until_ids(registry, [instance_id], "hello registered again")
    finally:
        await registry.aclose()
        await nc.close()


async def test_sigterm_deregisters_before_the_process_exits(start_hello, nats_url):
    # The drain delay keeps the process alive after it deregistered: the order is observable.
    hello = start_hello(BATON_NATS_URL=nats_url, BATON_DRAIN_DELAY="3")
    nc = await nats.connect(nats_url)
    registry = NatsKvRegistry(nc)
    try:
        await _until_ids(registry, [f"hello-{hello.base_url.rsplit(':', 1)[1]}"], "hello registered once ready")
        hello.process.send_signal(signal.SIGTERM)
        await _until_ids(registry, [], "hello deregistered on SIGTERM")
        assert hello.process.poll() is None  # still draining: callers moved away before the listener closes
        assert hello.process.wait(timeout=20) == 0
        assert await _ids(registry) == []
    finally:
        await registry.aclose()
        await nc.close()


async def test_opting_out_keeps_the_instance_out_of_discovery(start_hello, nats_url):
    hello = start_hello(BATON_NATS_URL=nats_url, BATON_DISCOVERY="off")
    async with httpx.AsyncClient(base_url=hello.base_url) as client:
        checks = [c["name"] for c in (await client.get("/readyz?verbose")).json()["checks"]]
    assert "discovery" not in checks  # no registration component at all...
    assert "bus" in checks  # ...although the instance has a bus
    nc = await nats.connect(nats_url)
    registry = NatsKvRegistry(nc)
    try:
        assert await _ids(registry) == []
    finally:
        await nc.close()
