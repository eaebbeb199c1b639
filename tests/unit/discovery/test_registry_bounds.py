"""Registry calls sit on every shutdown path: each is bounded, and cancelling a caller mid-deregistration works."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from baton.discovery.base import Instance
from baton.discovery.nats_kv import NatsKvRegistry
from baton.errors import BrokerUnavailable
from baton.testing import wait_until

INSTANCE = Instance("catalog", "catalog-1", "127.0.0.1", 7801)


class StuckKv:
    """A bucket whose operations never answer (a NATS connection stuck reconnecting), or answer when not stuck."""

    def __init__(self, *, stuck: bool) -> None:
        self.stuck = stuck
        self.deleted: list[str] = []

    async def _maybe_hang(self) -> None:
        if self.stuck:
            await asyncio.Event().wait()

    async def put(self, key: str, value: bytes) -> None:
        await self._maybe_hang()

    async def delete(self, key: str) -> None:
        await self._maybe_hang()
        self.deleted.append(key)


def registry(kv: Any, *, op_timeout: float = 0.05) -> NatsKvRegistry:
    reg = NatsKvRegistry(object(), op_timeout=op_timeout)  # type: ignore[arg-type]
    reg._kv = kv  # the bucket is "open": no NATS needed for these
    return reg


async def test_operations_on_a_stuck_bucket_end_within_their_timeout() -> None:
    reg = registry(StuckKv(stuck=True))
    async with asyncio.timeout(5):  # guards the test; each call gives up after 0.05 s
        with pytest.raises(BrokerUnavailable):
            await reg.register(INSTANCE)
        await reg.deregister(INSTANCE)  # logged, not raised: the TTL removes the key anyway


class SlowToCancelKv(StuckKv):
    """The first put answers; heartbeat puts hang and take a while to unwind when cancelled (a request waiting
    on a reconnecting client)."""

    def __init__(self) -> None:
        super().__init__(stuck=False)
        self.puts = 0
        self.unwinding = False
        self.release = asyncio.Event()

    async def put(self, key: str, value: bytes) -> None:
        self.puts += 1
        if self.puts == 1:
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.unwinding = True
            await self.release.wait()
            raise


async def test_cancelling_a_deregistration_cancels_it() -> None:
    kv = SlowToCancelKv()
    reg = registry(kv, op_timeout=60)
    reg.heartbeat = 0.01
    await reg.register(INSTANCE)
    await wait_until(lambda: kv.puts == 2, timeout=5, message="a heartbeat put under way")
    deregistering = asyncio.create_task(reg.deregister(INSTANCE))
    await wait_until(lambda: kv.unwinding, timeout=5, message="deregister waiting for the heartbeat to stop")
    deregistering.cancel()  # e.g. the supervisor detaching the slot whose task is deregistering
    kv.release.set()

    with pytest.raises(asyncio.CancelledError):
        await deregistering
    assert kv.deleted == []  # before the fix, the cancellation was swallowed and the delete went ahead
