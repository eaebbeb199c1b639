"""Broker ``kill -9`` and restart under load: no acknowledged event is lost and consumers resume on their own."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import pytest
from sqlalchemy import func, select

from baton.errors import BrokerUnavailable
from baton.events import CloudEvent, ConsumerPolicy, EventRuntime, JetStreamBus, enqueue, handler
from baton.events.outbox import RelayPolicy
from baton.kit.component import InstanceContext
from baton.kit.settings import InstanceSettings
from baton.testing import wait_until

from .conftest import effects

pytestmark = pytest.mark.integration

SHIPPED = "shop.order.order.shipped.v1"


@handler(SHIPPED, backoff=(0.05,))
async def on_shipped(event: CloudEvent, session) -> None:
    await session.execute(effects.insert().values(event_id=event.id))


async def test_kill_9_and_restart_under_load_loses_nothing(sessions, nc, nats_server) -> None:
    settings = InstanceSettings(service="shipping", instance="shipping-1")
    ctx = InstanceContext(service="shipping", instance="shipping-1", settings=settings, sessions=sessions, nats=nc)
    runtime = EventRuntime(
        [on_shipped],
        service="shipping",
        bus=JetStreamBus(nc, ack_timeout=1.0),
        consumer_policy=ConsumerPolicy(batch=32, fetch_timeout=0.2, ack_wait=3.0, retry_max=0.3),
        relay_policy=RelayPolicy(batch_size=64, poll_interval=0.2, retry_max=0.3),
    )
    await runtime.start(ctx)
    committed: list[str] = []
    stop = asyncio.Event()

    async def produce() -> None:
        # A steady stream of business transactions, each committing one event; none may depend on the broker.
        for n in itertools.count():
            if stop.is_set():
                return
            event = CloudEvent.create(type=SHIPPED, source="/shop/order", id=f"ship-{n}", data={"n": n})
            async with sessions() as session, session.begin():
                await enqueue(session, event)
            committed.append(event.id)
            await asyncio.sleep(0.002)

    async def handled() -> int:
        async with sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(effects)) or 0)

    producer = asyncio.create_task(produce())
    try:
        await wait_until(lambda: handled(), timeout=10.0)
        await wait_until(lambda: len(committed) >= 60, timeout=10.0)
        nats_server.kill()
        await wait_until(lambda: not nc.is_connected, timeout=5.0)
        with pytest.raises(BrokerUnavailable):
            await runtime.check()
        during_outage = len(committed)
        await wait_until(lambda: len(committed) >= during_outage + 40, timeout=10.0)  # still accepting events
        await asyncio.to_thread(nats_server.start)
        await wait_until(lambda: nc.is_connected, timeout=10.0)
        await wait_until(lambda: len(committed) >= during_outage + 80, timeout=10.0)
        stop.set()
        await producer
        total = len(committed)
        await wait_until(lambda: _at_least(handled, total), timeout=20.0)
        await runtime.check()
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await producer
        await runtime.stop()
    async with sessions() as session:
        ids = list((await session.execute(select(effects.c.event_id))).scalars())
    assert sorted(ids) == sorted(committed)  # every committed event, each exactly once
    assert runtime.relay is not None
    assert await runtime.relay.pending() == 0


async def _at_least(count, total: int) -> bool:  # type: ignore[no-untyped-def]
    return await count() >= total
