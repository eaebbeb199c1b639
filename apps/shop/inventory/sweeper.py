"""The reservation sweeper: a component that releases held reservations whose time to live has passed.

It owns one task. Each round asks the sweep function to expire up to ``batch`` due reservations; a full batch
means more may be due, so the next round starts at once, otherwise the sweeper waits ``interval`` seconds.
Several replicas may sweep the same database: each expiry is a conditional update, so exactly one wins.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton.errors import BatonError, ConfigError
from baton.kit import InstanceContext
from baton.telemetry.logging import get_logger

_log = get_logger("shop.inventory.sweeper")


@dataclass(frozen=True, slots=True)
class SweepPolicy:
    """How often and how much the sweeper works."""

    interval: float = 1.0
    """Seconds between rounds that found less than a full batch (a reservation outlives its TTL by at most this)."""
    batch: int = 100
    """Most reservations expired per round."""


Sweep = Callable[[async_sessionmaker[AsyncSession], int], Awaitable[int]]
"""``await sweep(sessions, batch)`` expires up to ``batch`` due reservations and returns how many it expired."""


class ReservationSweeper:
    """Runs :data:`Sweep` in a loop for the life of the instance (a :class:`~baton.kit.Component`)."""

    name = "sweeper"

    def __init__(self, sweep: Sweep, *, policy: Callable[[], SweepPolicy] = SweepPolicy) -> None:
        """
        Args:
            sweep: expires due reservations.
            policy: read at start, so settings changed before a (re)start apply.
        """
        self._sweep = sweep
        self._policy_of = policy
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        """Completed rounds (tests and metrics)."""

    async def start(self, ctx: InstanceContext) -> None:
        """Start the loop.

        Raises:
            ConfigError: the instance has no database.
        """
        if ctx.sessions is None:
            raise ConfigError("the reservation sweeper needs the service database")
        self._stopping = asyncio.Event()
        self.rounds = 0
        self._task = asyncio.create_task(self._run(ctx.sessions, self._policy_of()), name="inventory-sweeper")

    async def _run(self, sessions: async_sessionmaker[AsyncSession], policy: SweepPolicy) -> None:
        while not self._stopping.is_set():
            expired = 0
            try:
                expired = await self._sweep(sessions, policy.batch)
            except (BatonError, SQLAlchemyError) as exc:  # a locked or lost database: try again next round
                _log.warning("sweep failed", error=str(exc))
            self.rounds += 1
            if expired >= policy.batch:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(policy.interval):
                    await self._stopping.wait()

    async def check(self) -> None:
        """Raise when the loop has died."""
        if self._task is not None and self._task.done() and not self._stopping.is_set():
            exc = None if self._task.cancelled() else self._task.exception()
            raise BatonError(f"reservation sweeper is not running: {exc!r}")

    async def drain(self) -> None:
        """Stop starting new rounds (the one in progress finishes)."""
        self._stopping.set()

    async def stop(self) -> None:
        """Wait for the round in progress, then release the task; idempotent."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
