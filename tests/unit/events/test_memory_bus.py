"""The in-memory bus behaves like JetStream where the runtime depends on it."""

from __future__ import annotations

import pytest

from baton.errors import BrokerUnavailable
from baton.events import CloudEvent, ConsumerSpec, EventBus
from baton.testing.memory_bus import MemoryBus

SPEC = ConsumerSpec(stream="SHOP_CATALOG", durable="inventory", subjects=("shop.catalog.product.*",))


def ev(i: int, type_: str = "shop.catalog.product.price_changed.v1") -> CloudEvent:
    return CloudEvent(id=f"e{i}", source="/s", type=type_, data={"i": i})


def test_memory_bus_implements_the_protocol() -> None:
    bus: EventBus = MemoryBus()
    assert isinstance(bus, EventBus)


async def test_publish_deduplicates_by_event_id() -> None:
    bus = MemoryBus()
    await bus.publish([ev(1), ev(2)])
    await bus.publish([ev(1)])
    assert [e.id for e in bus.published("SHOP_CATALOG")] == ["e1", "e2"]


async def test_replicas_of_one_durable_compete_and_filters_apply() -> None:
    bus = MemoryBus()
    await bus.publish([ev(1), ev(2, "shop.catalog.category.renamed.v1"), ev(3), ev(4)])
    a, b = await bus.subscribe(SPEC), await bus.subscribe(SPEC)
    got_a = await a.fetch(2, timeout=0.1)
    got_b = await b.fetch(5, timeout=0.1)
    assert [d.event.id for d in got_a] == ["e1", "e3"]
    assert [d.event.id for d in got_b] == ["e4"]


async def test_nak_redelivers_after_delay_and_counts_deliveries() -> None:
    bus = MemoryBus()
    await bus.publish([ev(1)])
    sub = await bus.subscribe(SPEC)
    (first,) = await sub.fetch(1, timeout=0.1)
    await first.nak(0.05)
    assert await sub.fetch(1, timeout=0.01) == []
    (second,) = await sub.fetch(1, timeout=1.0)
    assert (second.event.id, second.deliveries) == ("e1", 2)
    await second.ack()
    assert await sub.fetch(1, timeout=0.05) == []


async def test_unacked_delivery_returns_after_ack_wait() -> None:
    bus = MemoryBus()
    await bus.publish([ev(1)])
    sub = await bus.subscribe(ConsumerSpec(stream="SHOP_CATALOG", durable="x", subjects=("shop.>",), ack_wait=0.05))
    assert len(await sub.fetch(1, timeout=0.1)) == 1
    (again,) = await sub.fetch(1, timeout=1.0)
    assert again.deliveries == 2


async def test_dead_letter_records_error_and_acks() -> None:
    bus = MemoryBus()
    await bus.publish([ev(1)])
    sub = await bus.subscribe(SPEC)
    (delivery,) = await sub.fetch(1, timeout=0.1)
    await delivery.dead_letter(consumer="inventory", error="ValueError: boom")
    assert [(d.consumer, d.error, d.message.event_id) for d in bus.dead_letters] == [
        ("inventory", "ValueError: boom", "e1")
    ]
    assert await sub.fetch(1, timeout=0.05) == []


async def test_outage_makes_publish_and_fetch_raise() -> None:
    bus = MemoryBus()
    sub = await bus.subscribe(SPEC)
    bus.available = False
    with pytest.raises(BrokerUnavailable):
        await bus.publish([ev(1)])
    with pytest.raises(BrokerUnavailable):
        await sub.fetch(1, timeout=0.01)
