"""Canary weights east-west: a rollout's split published in discovery (real NATS KV) reaches a caller's real
ServiceClient, which then sends the canary its step's share of service-to-service calls — not its share of
instances — and everything back to balancing by instance once the split is withdrawn."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import nats
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from baton.client import ServiceClient
from baton.control.rotation import Rotation
from baton.delivery.traffic import DiscoveryRouter, TrafficSplit
from baton.discovery import Instance, NatsKvRegistry
from baton.events.server import free_port
from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def replica(name: str, version: str) -> tuple[Instance, web.AppRunner]:
    async def who(request: web.Request) -> web.Response:
        return web.json_response({"version": version, "instance": name})

    app = web.Application()
    app.router.add_get("/who", who)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Instance(service="payment", id=name, host="127.0.0.1", port=port, version=version), runner


@pytest.fixture
async def payment() -> AsyncIterator[list[Instance]]:
    """Two stable (1.0) and two canary (1.1) replicas: by instance count the canary would get half the calls."""
    started = [await replica(f"payment-{i}", "1.0" if i < 2 else "1.1") for i in range(4)]
    yield [instance for instance, _ in started]
    for _, runner in started:
        await runner.cleanup()


async def canary_share(client: ServiceClient, calls: int) -> float:
    seen = Counter([(await client.get_json("/who"))["version"] for _ in range(calls)])
    return seen["1.1"] / calls


async def test_callers_inside_the_system_follow_the_canary_weight(nats_url, payment) -> None:
    nc = await nats.connect(nats_url)
    rotation = Rotation(NatsKvRegistry(nc, ttl=2.0))  # the control plane's side (heartbeats every ~0.7 s)
    client = ServiceClient(
        "payment", registry=NatsKvRegistry(nc, ttl=2.0), balancer="round_robin", metrics_registry=CollectorRegistry()
    )
    router = DiscoveryRouter(rotation)
    try:
        for instance in payment:
            await rotation.add(instance)
        async with client:
            await wait_until(lambda: len(client._view.instances or []) == 4, timeout=5)
            assert 0.4 <= await canary_share(client, 200) <= 0.6  # no rollout: balanced by instance

            await router.route("payment", TrafficSplit(stable="1.0", canary="1.1", weight=10))
            await wait_until(lambda: all("weight" in i.metadata for i in client._view.instances), timeout=5)
            assert await canary_share(client, 400) <= 0.10 + 0.05

            # The split outlives heartbeats (instances and split re-put every ttl/3) and follows the steps.
            await router.route("payment", TrafficSplit(stable="1.0", canary="1.1", weight=50))
            await wait_until(lambda: {i.metadata.get("weight") for i in client._view.instances} == {"50"}, timeout=5)
            assert 0.4 <= await canary_share(client, 400) <= 0.6

            # Rolled back: weight 0 — no call reaches the canary, though its instances still run.
            await router.route("payment", TrafficSplit(stable="1.0", canary="1.1", weight=0))
            await wait_until(
                lambda: {i.metadata.get("weight") for i in client._view.instances if i.version == "1.1"} == {"0"},
                timeout=5,
            )
            assert await canary_share(client, 300) == 0.0

            await router.route("payment", None)  # the rollout ended: the split is withdrawn
            await wait_until(lambda: all("weight" not in i.metadata for i in client._view.instances), timeout=5)
            assert [dataclasses.replace(i, metadata={}) for i in client._view.instances] == payment
    finally:
        await rotation.registry.aclose()  # type: ignore[union-attr]
        await nc.close()


async def test_the_split_outlives_the_control_plane_that_published_it(nats_url, payment) -> None:
    """Linkerd's TrafficSplit, Argo's weights: the data plane keeps the last split until told otherwise. The
    control plane's kill -9 ends its heartbeats: the instances only it registered expire one TTL later, as before,
    but the split stays in force for current callers and for a caller that starts after the expiry."""
    bucket = f"split_{uuid.uuid4().hex[:8]}"  # its own bucket: a 1 s TTL, no neighbour's records
    plane_nc, caller_nc = await nats.connect(nats_url), await nats.connect(nats_url)
    plane = Rotation(NatsKvRegistry(plane_nc, ttl=1.0, bucket=bucket))
    instances = NatsKvRegistry(caller_nc, ttl=1.0, bucket=bucket)  # the replicas' own registrations (the kit's)
    caller = NatsKvRegistry(caller_nc, ttl=1.0, bucket=bucket)
    views: list[list[Instance]] = []

    async def follow() -> None:
        async for listing in caller.watch("payment"):
            views.append(listing)

    def weights(listing: list[Instance]) -> dict[str, str | None]:
        return {i.id: i.metadata.get("weight") for i in listing}

    stale = Instance("payment", "payment-gone", "127.0.0.1", 1, version="1.1")  # nobody but the plane beats it
    expected = {i.id: "90" if i.version == "1.0" else "10" for i in payment}
    watching = asyncio.create_task(follow())
    try:
        for instance in payment:
            await instances.register(instance)
            await plane.add(instance)
        await plane.add(stale)
        await DiscoveryRouter(plane).route("payment", TrafficSplit(stable="1.0", canary="1.1", weight=10))
        await wait_until(lambda: views and weights(views[-1]) == {**expected, stale.id: "10"}, timeout=5)

        await plane.registry.aclose()  # type: ignore[union-attr]  # kill -9: no heartbeat, no deregistration
        await plane_nc.close()
        await wait_until(lambda: stale.id not in weights(views[-1]), timeout=5, message="the stale instance expires")
        assert weights(views[-1]) == expected
        later = await NatsKvRegistry(caller_nc, ttl=1.0, bucket=bucket).resolve("payment")
        assert weights(later) == expected  # a caller (re)starting meanwhile finds the split too

        # The next control plane withdraws it (a rollout it does not carry on): back to balancing by instance.
        successor = Rotation(NatsKvRegistry(caller_nc, ttl=1.0, bucket=bucket))
        await DiscoveryRouter(successor).route("payment", None)
        await wait_until(lambda: set(weights(views[-1]).values()) == {None}, timeout=5)
    finally:
        watching.cancel()
        await asyncio.wait({watching})
        await instances.aclose()
        await caller_nc.close()
        if not plane_nc.is_closed:
            await plane_nc.close()
