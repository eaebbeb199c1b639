"""The JetStream bus against a real server: streams, dedup, competing consumers, nak delays, dead letters."""

from __future__ import annotations

import time

import pytest

from baton.events import CloudEvent, ConsumerSpec, EventBus, JetStreamBus
from baton.events import dlq as dead_letters

pytestmark = pytest.mark.integration

TYPE = "shop.catalog.product.price_changed.v1"
SPEC = ConsumerSpec(stream="SHOP_CATALOG", durable="inventory", subjects=("shop.catalog.product.*",))


def ev(i: int) -> CloudEvent:
    return CloudEvent.create(type=TYPE, source="/shop/catalog", data={"i": i}, id=f"e{i}")


async def test_publish_creates_the_context_stream_and_dedups_by_event_id(nc) -> None:
    bus: EventBus = JetStreamBus(nc)
    await bus.publish([ev(1), ev(2)])
    await bus.publish([ev(1), ev(3)])  # e1 again: dropped by the duplicate window
    info = await nc.jsm().stream_info("SHOP_CATALOG")
    assert info.config.subjects == ["shop.catalog.>"]
    assert info.config.duplicate_window >= 120
    assert info.state.messages == 3


async def test_replicas_of_one_durable_compete(nc) -> None:
    bus = JetStreamBus(nc)
    await bus.publish([ev(i) for i in range(10)])
    a, b = await bus.subscribe(SPEC), await bus.subscribe(SPEC)
    got_a = await a.fetch(4, timeout=1.0)
    got_b = await b.fetch(100, timeout=1.0)
    ids = [d.event.id for d in got_a + got_b]
    assert sorted(ids) == sorted(f"e{i}" for i in range(10))
    assert len(got_a) == 4
    for d in got_a + got_b:
        await d.ack()


async def test_fetch_on_an_empty_consumer_returns_within_its_timeout(nc) -> None:
    sub = await JetStreamBus(nc).subscribe(SPEC)
    started = time.monotonic()
    assert await sub.fetch(10, timeout=0.3) == []
    assert time.monotonic() - started < 1.5


async def test_a_waiting_fetch_returns_the_first_event_at_once(nc) -> None:
    bus = JetStreamBus(nc)
    sub = await bus.subscribe(SPEC)
    assert await sub.fetch(10, timeout=0.05) == []  # consumer is idle
    await bus.publish([ev(1)])
    started = time.monotonic()
    got = await sub.fetch(256, timeout=5.0)
    assert [d.event.id for d in got] == ["e1"]
    assert time.monotonic() - started < 0.5  # not held back waiting for a full batch


async def test_one_pull_request_serves_a_trickle_of_events(nc) -> None:
    """At a trickle each fetch brings one event; the request a fetch left open serves the next ones."""
    requests: list[bytes] = []

    async def seen(msg) -> None:  # type: ignore[no-untyped-def]
        requests.append(msg.data)

    monitor = await nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.SHOP_CATALOG.inventory", cb=seen)
    bus = JetStreamBus(nc)
    sub = await bus.subscribe(SPEC)
    for i in range(3):
        await bus.publish([ev(i)])
        got = await sub.fetch(64, timeout=5.0)
        assert [d.event.id for d in got] == [f"e{i}"]
        await got[0].ack()
    await nc.flush()
    assert len(requests) == 1
    await monitor.unsubscribe()
    await sub.close()


async def test_close_gives_back_what_the_open_request_still_delivers(nc) -> None:
    bus = JetStreamBus(nc)
    sub = await bus.subscribe(SPEC)
    await bus.publish([ev(1)])
    (first,) = await sub.fetch(64, timeout=1.0)
    await first.ack()
    await bus.publish([ev(2)])  # delivered to the request the fetch left open, never fetched
    await sub.close()
    other = await bus.subscribe(SPEC)
    started = time.monotonic()
    (again,) = await other.fetch(1, timeout=5.0)
    assert (again.event.id, again.deliveries) == ("e2", 2)
    assert time.monotonic() - started < 3.0  # nak'ed at close, not redelivered after ack_wait (30 s)
    await again.ack()


async def test_nak_with_delay_redelivers_later_and_counts(nc) -> None:
    bus = JetStreamBus(nc)
    await bus.publish([ev(1)])
    sub = await bus.subscribe(SPEC)
    (first,) = await sub.fetch(1, timeout=1.0)
    assert first.deliveries == 1
    await first.nak(0.3)
    started = time.monotonic()
    (second,) = await sub.fetch(1, timeout=3.0)
    assert time.monotonic() - started >= 0.2
    assert (second.event.id, second.deliveries) == ("e1", 2)
    await second.ack()


async def test_dead_letter_keeps_envelope_and_error_and_can_be_replayed(nc) -> None:
    bus = JetStreamBus(nc)
    await bus.publish([ev(1)])
    sub = await bus.subscribe(SPEC)
    (delivery,) = await sub.fetch(1, timeout=1.0)
    await delivery.dead_letter(consumer="inventory", error="ValueError: boom\nTraceback ...")
    (letter,) = await dead_letters.list_dead_letters(bus, consumer="inventory")
    assert letter.consumer == "inventory"
    assert letter.error == "ValueError: boom Traceback ..."
    assert letter.deliveries == 1
    assert letter.subject == "shop.catalog.product.price_changed"
    assert letter.event is not None
    assert letter.event.id == "e1"
    assert await sub.fetch(1, timeout=0.2) == []  # acknowledged on the original consumer

    await dead_letters.replay(bus, letter)
    (again,) = await sub.fetch(1, timeout=2.0)
    assert again.event.id == "e1"
    assert await dead_letters.list_dead_letters(bus) == []
