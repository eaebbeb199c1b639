"""EventRuntime as a component, over the memory bus: relay + consumers end to end, grouping, health."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from baton.errors import ConfigError, EventError
from baton.events import CloudEvent, EventRuntime, enqueue, handler
from baton.kit.component import Component, InstanceContext
from baton.kit.settings import InstanceSettings
from baton.testing import wait_until
from baton.testing.memory_bus import MemoryBus

from .conftest import ledger

PLACED = "shop.order.order.placed.v1"


@handler(PLACED)
async def on_placed(event: CloudEvent, session) -> None:
    await session.execute(ledger.insert().values(account=event.data["order"], balance=event.data["total"]))


@handler("shop.catalog.>", broadcast=True)
async def on_catalog(event: CloudEvent, session) -> None: ...


@handler("shop.order.order.cancelled.v1", consumer="audit")
async def on_cancelled(event: CloudEvent, session) -> None: ...


def context(sessions) -> InstanceContext:
    settings = InstanceSettings(service="billing", instance="billing-1")
    return InstanceContext(service="billing", instance="billing-1", settings=settings, sessions=sessions)


def test_runtime_is_a_component_named_events() -> None:
    runtime = EventRuntime([on_placed], service="billing")
    assert isinstance(runtime, Component)
    assert runtime.name == "events"


def test_handlers_are_grouped_into_durable_consumers() -> None:
    specs = EventRuntime([on_placed, on_catalog, on_cancelled], service="billing").consumer_specs("billing-1")
    by_key = {
        key: (spec.durable, spec.subjects, spec.inactive_threshold is not None) for key, (spec, _) in specs.items()
    }
    assert by_key == {
        "SHOP_ORDER/billing": ("billing", ("shop.order.order.placed",), False),
        "SHOP_CATALOG/billing_billing-1": ("billing_billing-1", ("shop.catalog.>",), True),
        "SHOP_ORDER/audit": ("audit", ("shop.order.order.cancelled",), False),
    }


def test_overlapping_filters_are_collapsed() -> None:
    @handler("shop.order.>")
    async def everything(event, session) -> None: ...

    ((spec, fns),) = EventRuntime([on_placed, everything], service="billing").consumer_specs("i").values()
    assert spec.subjects == ("shop.order.>",)
    assert fns == [on_placed, everything]


async def test_enqueued_event_reaches_the_handler_through_relay_and_inbox(sessions) -> None:
    bus = MemoryBus()
    runtime = EventRuntime([on_placed], service="billing", bus=bus)
    ctx = context(sessions)
    await runtime.start(ctx)
    try:
        assert ctx.extras["bus"] is bus
        await runtime.check()
        async with sessions() as session, session.begin():
            await enqueue(
                session, CloudEvent.create(type=PLACED, source="/shop/order", data={"order": "o1", "total": 42})
            )

        async def booked() -> bool:
            async with sessions() as session:
                return (await session.scalar(select(ledger.c.balance).where(ledger.c.account == "o1"))) == 42

        await wait_until(booked, timeout=5.0)
    finally:
        await runtime.stop()
        await runtime.stop()  # idempotent
    assert runtime.inboxes["SHOP_ORDER/billing"].stats.handled == 1


async def test_check_raises_when_a_consumer_died(sessions) -> None:
    bus = MemoryBus()
    runtime = EventRuntime([on_placed], service="billing", bus=bus)
    await runtime.start(context(sessions))
    try:
        runtime._tasks["consumer SHOP_ORDER/billing"].cancel()
        await wait_until(lambda: runtime._tasks["consumer SHOP_ORDER/billing"].done())
        with pytest.raises(EventError, match="consumer SHOP_ORDER/billing"):
            await runtime.check()
    finally:
        await runtime.stop()


async def test_start_without_database_or_bus_says_what_to_set() -> None:
    settings = InstanceSettings(service="billing")
    ctx = InstanceContext(service="billing", instance="b", settings=settings)
    with pytest.raises(ConfigError, match="database"):
        await EventRuntime([on_placed], service="billing").start(ctx)
