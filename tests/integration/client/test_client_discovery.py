"""Discovery in NATS KV with real processes, and outlier ejection across three real replicas."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import nats
import pytest
from prometheus_client import CollectorRegistry

from baton.client import ServiceClient
from baton.discovery import Instance, NatsKvRegistry, StaticRegistry
from baton.events.server import free_port
from baton.resilience import Policy, RetryPolicy
from baton.testing import wait_until

from .client_upstreams import Upstream

pytestmark = pytest.mark.integration
REPLICA = Path(__file__).with_name("replica_process.py")


def ids(instances: list[Instance]) -> list[str]:
    return [i.id for i in instances]


async def test_nats_kv_join_leave_and_expiry_in_process(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        server_side = NatsKvRegistry(nc, ttl=1.0)
        client_side = NatsKvRegistry(nc, ttl=1.0)
        a = Instance(service="inventory", id="inventory-a", host="127.0.0.1", port=8001, version="1.0")
        b = Instance(service="inventory", id="inventory-b", host="127.0.0.1", port=8002)
        await server_side.register(a)
        seen: list[list[str]] = []

        async def follow() -> None:
            async for instances in client_side.watch("inventory"):
                seen.append(ids(instances))

        watcher = asyncio.create_task(follow())
        try:
            await wait_until(lambda: seen and seen[-1] == ["inventory-a"], timeout=3)
            await server_side.register(b)  # joins without polling: the watch delivers the put
            await wait_until(lambda: seen[-1] == ["inventory-a", "inventory-b"], timeout=1)
            assert (await client_side.resolve("inventory"))[0].version == "1.0"
            await server_side.deregister(a)  # a clean exit leaves at once
            await wait_until(lambda: seen[-1] == ["inventory-b"], timeout=1)
            await server_side.aclose()  # b stops heartbeating, like a crash: it expires within one TTL
            started = time.monotonic()
            await wait_until(lambda: seen[-1] == [], timeout=3)
            assert time.monotonic() - started <= 1.0 + 0.3
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    finally:
        await nc.close()


async def _spawn(nats_url: str, instance_id: str, port: int, ttl: float) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(REPLICA), nats_url, instance_id, str(port), str(ttl), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    async with asyncio.timeout(15):
        line = await proc.stdout.readline()
    assert line.strip() == b"ready"
    return proc


async def test_killed_replica_leaves_rotation_within_one_ttl(nats_url: str) -> None:
    ttl = 1.5
    ports = [free_port(), free_port()]
    procs = await asyncio.gather(*(_spawn(nats_url, f"inventory-{n}", port, ttl) for n, port in enumerate(ports)))
    nc = await nats.connect(nats_url)
    client = ServiceClient(
        "inventory", registry=NatsKvRegistry(nc, ttl=ttl), balancer="round_robin", metrics_registry=CollectorRegistry()
    )
    try:
        async with client:
            await wait_until(lambda: client._view.instances and len(client._view.instances) == 2, timeout=5)
            answered = {(await client.get_json("/item"))["instance"] for _ in range(4)}
            assert answered == {"inventory-0", "inventory-1"}
            procs[0].kill()  # kill -9: no deregistration, the heartbeat just stops
            await procs[0].wait()
            killed_at = time.monotonic()
            await wait_until(lambda: ids(client._view.instances) == ["inventory-1"], timeout=ttl + 2)
            assert time.monotonic() - killed_at <= ttl + 0.3
            answered = {(await client.get_json("/item"))["instance"] for _ in range(4)}
            assert answered == {"inventory-1"}
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await nc.close()


async def test_one_of_three_replicas_failing_is_ejected_and_success_stays_high() -> None:
    replicas = [await Upstream(f"inventory-{n}").start() for n in range(3)]
    replicas[1].status = 503
    metrics = CollectorRegistry()
    policy = Policy(retry=RetryPolicy(initial_backoff=0.001, max_backoff=0.005), breaker=None)
    client = ServiceClient(
        "inventory",
        registry=StaticRegistry(r.instance for r in replicas),
        policies=policy,
        metrics_registry=metrics,
    )
    try:
        async with client:
            calls = 1000
            semaphore = asyncio.Semaphore(20)

            async def one() -> bool:
                async with semaphore:
                    try:
                        return (await client.get("/item")).status == 200
                    except Exception:
                        return False

            results = await asyncio.gather(*(one() for _ in range(calls)))
            assert sum(results) / calls >= 0.999
            assert client.outliers is not None
            assert client.outliers.is_ejected(replicas[1].instance)
            ejections = metrics.get_sample_value(
                "baton_client_ejections_total", {"target": "inventory", "instance": "inventory-1"}
            )
            assert ejections == 1
            bad_hits = replicas[1].hits
            for _ in range(50):
                await client.get("/item")
            assert replicas[1].hits == bad_hits  # out of rotation while ejected
    finally:
        for replica in replicas:
            await replica.stop()


async def test_registration_component_in_nats_kv(nats_url: str) -> None:
    from baton.discovery import RegistrationComponent
    from baton.kit.component import InstanceContext
    from baton.kit.settings import InstanceSettings

    nc = await nats.connect(nats_url)
    try:
        settings = InstanceSettings(service="inventory", instance="inventory-9", port=8109)
        ctx = InstanceContext(service="inventory", instance="inventory-9", settings=settings, nats=nc)
        component = RegistrationComponent(ttl=1.0)
        observer = NatsKvRegistry(nc, ttl=1.0)
        await component.start(ctx)
        await component.check()
        assert await observer.resolve("inventory") == []  # announced only once the kit reports ready
        await component.mark_ready()
        assert ids(await observer.resolve("inventory")) == ["inventory-9"]
        await component.mark_unready()  # readiness failed: out of rotation, process alive
        assert await observer.resolve("inventory") == []
        await component.mark_ready()
        assert ids(await observer.resolve("inventory")) == ["inventory-9"]
        await component.drain()
        assert await observer.resolve("inventory") == []
        await component.stop()
        await component.stop()
    finally:
        await nc.close()
