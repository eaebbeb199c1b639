"""Outbox: rows commit with the caller's transaction; the relay publishes, marks sent, survives outages."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import func, select

from baton.errors import BrokerUnavailable
from baton.events import CloudEvent, OutboxRelay, RelayPolicy, enqueue, enqueue_many
from baton.events.tables import outbox
from baton.testing import wait_until
from baton.testing.memory_bus import MemoryBus

TYPE = "shop.order.order.placed.v1"


def ev(i: int) -> CloudEvent:
    return CloudEvent(id=f"e{i}", source="/shop/order", type=TYPE, data={"i": i})


async def count(sessions, *, pending: bool | None = None) -> int:
    query = select(func.count()).select_from(outbox)
    if pending is not None:
        query = query.where(outbox.c.sent_at.is_(None) if pending else outbox.c.sent_at.is_not(None))
    async with sessions() as session:
        return int(await session.scalar(query) or 0)


async def test_enqueue_commits_or_rolls_back_with_the_callers_transaction(sessions) -> None:
    async with sessions() as session, session.begin():
        await enqueue(session, ev(1))
    with contextlib.suppress(RuntimeError):
        async with sessions() as session, session.begin():
            await enqueue(session, ev(2))
            raise RuntimeError("business rule failed")
    assert await count(sessions) == 1


async def test_relay_publishes_in_order_and_marks_sent(sessions) -> None:
    bus = MemoryBus()
    async with sessions() as session, session.begin():
        await enqueue_many(session, [ev(i) for i in range(5)])
    relay = OutboxRelay(sessions, bus, policy=RelayPolicy(batch_size=3))
    assert await relay.flush_once() == 3
    assert await relay.flush_once() == 2
    assert await relay.flush_once() == 0
    assert [e.id for e in bus.published()] == [f"e{i}" for i in range(5)]
    assert await count(sessions, pending=True) == 0


async def test_outage_keeps_events_pending_and_counts_attempts(sessions) -> None:
    bus = MemoryBus()
    bus.available = False
    async with sessions() as session, session.begin():
        await enqueue(session, ev(1))
    relay = OutboxRelay(sessions, bus)
    with pytest.raises(BrokerUnavailable):
        await relay.flush_once()
    async with sessions() as session:
        row = (await session.execute(select(outbox.c.attempts, outbox.c.last_error))).one()
    assert row.attempts == 1
    assert "outage" in row.last_error
    bus.available = True
    assert await relay.flush_once() == 1


async def test_crash_between_publish_and_mark_republishes_and_the_bus_dedups(sessions) -> None:
    bus = MemoryBus()
    async with sessions() as session, session.begin():
        await enqueue_many(session, [ev(1), ev(2)])

    def crash(point: str) -> None:
        raise SystemExit(f"relay killed at {point}")

    with pytest.raises(SystemExit):
        await OutboxRelay(sessions, bus, fault=crash).flush_once()
    assert await count(sessions, pending=True) == 2  # published but never marked
    assert await OutboxRelay(sessions, bus).flush_once() == 2
    assert [e.id for e in bus.published()] == ["e1", "e2"]  # the republish was dropped as duplicate


async def test_commit_wakes_the_running_relay_before_its_poll(sessions) -> None:
    bus = MemoryBus()
    relay = OutboxRelay(sessions, bus, policy=RelayPolicy(poll_interval=30.0))
    task = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: relay._loop is not None)
        async with sessions() as session, session.begin():
            await enqueue(session, ev(1))
        # With a 30 s poll, only the after-commit wake-up can deliver this in time.
        await wait_until(lambda: len(bus.published()) == 1, timeout=3.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        relay.close()


async def test_purge_deletes_only_old_sent_rows(sessions) -> None:
    bus = MemoryBus()
    async with sessions() as session, session.begin():
        await enqueue_many(session, [ev(1), ev(2)])
    relay = OutboxRelay(sessions, bus, policy=RelayPolicy(batch_size=1, retention=0.0))
    await relay.flush_once()
    assert await relay.purge() == 1
    assert await count(sessions) == 1
    assert await count(sessions, pending=True) == 1


class CancelSwallowingBus(MemoryBus):
    """A bus whose client library turns a cancel into an ordinary error (as nats.py's publish_async does)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()

    async def publish(self, events) -> None:
        self.entered.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise BrokerUnavailable("too many stalled messages") from None


async def test_cancelling_the_relay_stops_it_even_when_the_library_swallows_the_cancel(sessions) -> None:
    bus = CancelSwallowingBus()
    async with sessions() as session, session.begin():
        await enqueue(session, ev(1))
    relay = OutboxRelay(sessions, bus)
    task = asyncio.create_task(relay.run())
    await wait_until(bus.entered.is_set)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=3.0)
    assert task in done
    assert task.cancelled()
    relay.close()
