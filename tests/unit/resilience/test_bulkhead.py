"""The bulkhead: concurrency limit, bounded FIFO queue, clear refusal, recovery."""

from __future__ import annotations

import asyncio

import pytest

from baton.errors import BulkheadFull
from baton.resilience import Bulkhead, BulkheadPolicy
from baton.testing import wait_until


async def test_slots_then_queue_then_refusal() -> None:
    bulkhead = Bulkhead("inventory", BulkheadPolicy(max_concurrent=2, max_queue=1, max_wait=5))
    await bulkhead.acquire()
    await bulkhead.acquire()
    assert bulkhead.in_flight == 2
    queued = asyncio.create_task(bulkhead.acquire())
    await wait_until(lambda: bulkhead.queue_depth == 1)
    with pytest.raises(BulkheadFull, match=r"inventory.*full"):
        await bulkhead.acquire()
    assert bulkhead.rejected == 1
    bulkhead.release()  # hands the slot straight to the queued call
    await queued
    assert (bulkhead.in_flight, bulkhead.queue_depth) == (2, 0)
    bulkhead.release()
    bulkhead.release()
    assert bulkhead.in_flight == 0


async def test_waiting_longer_than_max_wait_is_refused_and_leaves_the_queue() -> None:
    bulkhead = Bulkhead("t", BulkheadPolicy(max_concurrent=1, max_queue=4, max_wait=0.05))
    await bulkhead.acquire()
    with pytest.raises(BulkheadFull, match="no slot freed"):
        await bulkhead.acquire()
    assert bulkhead.queue_depth == 0
    bulkhead.release()
    await bulkhead.acquire()  # recovered
    assert bulkhead.in_flight == 1


async def test_caller_bound_is_used_when_smaller() -> None:
    bulkhead = Bulkhead("t", BulkheadPolicy(max_concurrent=1, max_queue=1, max_wait=30))
    await bulkhead.acquire()
    with pytest.raises(BulkheadFull):
        await bulkhead.acquire(max_wait=0.02)


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    bulkhead = Bulkhead("t", BulkheadPolicy(max_concurrent=1, max_queue=2, max_wait=5))
    await bulkhead.acquire()
    waiter = asyncio.create_task(bulkhead.acquire())
    await wait_until(lambda: bulkhead.queue_depth == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    bulkhead.release()
    assert (bulkhead.in_flight, bulkhead.queue_depth) == (0, 0)


async def test_fifo_order() -> None:
    bulkhead = Bulkhead("t", BulkheadPolicy(max_concurrent=1, max_queue=3, max_wait=5))
    await bulkhead.acquire()
    order: list[int] = []

    async def take(n: int) -> None:
        await bulkhead.acquire()
        order.append(n)

    tasks = [asyncio.create_task(take(n)) for n in range(3)]
    await wait_until(lambda: bulkhead.queue_depth == 3)
    for _ in range(3):
        bulkhead.release()
        await wait_until(lambda: bulkhead.queue_depth < 3 and len(order) + bulkhead.queue_depth == 3)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
