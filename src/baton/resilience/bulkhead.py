"""The bulkhead: a per-target concurrency limit with a bounded FIFO queue.

A slow dependency may tie up at most ``max_concurrent`` calls; ``max_queue`` more may wait (up to
``max_wait`` seconds or the request deadline, whichever is sooner) and everything beyond is refused at once
with :class:`~baton.errors.BulkheadFull`, so the caller fails fast instead of piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from baton.errors import BulkheadFull
from baton.resilience.policies import BulkheadPolicy


class Bulkhead:
    """Per-target bulkhead state built from a :class:`BulkheadPolicy`."""

    def __init__(self, name: str, policy: BulkheadPolicy) -> None:
        self.name = name
        self.policy = policy
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.rejected = 0
        """Calls refused so far (queue full or waited too long)."""

    @property
    def in_flight(self) -> int:
        """Calls holding a slot."""
        return self._in_flight

    @property
    def queue_depth(self) -> int:
        """Calls waiting for a slot."""
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a free slot if there is one right now (never waits); ``False`` when the caller must queue."""
        if self._in_flight < self.policy.max_concurrent and not self._waiters:
            self._in_flight += 1
            return True
        return False

    async def acquire(self, *, max_wait: float | None = None) -> None:
        """Take a slot, waiting in the queue when all are busy.

        Args:
            max_wait: seconds to wait at most; defaults to the policy's ``max_wait`` (callers pass the
                smaller of it and the remaining deadline).

        Raises:
            BulkheadFull: the queue is full, or no slot freed up in time.
        """
        if self._in_flight < self.policy.max_concurrent and not self._waiters:
            self._in_flight += 1
            return
        if len(self._waiters) >= self.policy.max_queue:
            self.rejected += 1
            raise BulkheadFull(
                f"bulkhead of {self.name!r} is full ({self.policy.max_concurrent} in flight, "
                f"{self.policy.max_queue} queued); shed load or raise max_concurrent/max_queue",
                target=self.name,
            )
        wait = self.policy.max_wait if max_wait is None else min(max_wait, self.policy.max_wait)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(wait):
                await waiter
        except TimeoutError:
            self._abandon(waiter)
            self.rejected += 1
            raise BulkheadFull(
                f"bulkhead of {self.name!r}: no slot freed within {wait:.3f}s", target=self.name
            ) from None
        except BaseException:
            self._abandon(waiter)
            raise

    def release(self) -> None:
        """Give a slot back; the oldest waiter (if any) takes it over directly."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                # The slot passes straight to the waiter: in_flight stays the same.
                waiter.set_result(None)
                return
        self._in_flight -= 1

    def _abandon(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done() and not waiter.cancelled():
            # We were handed a slot in the same tick we gave up: pass it on so it is not lost.
            self.release()
            return
        waiter.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
