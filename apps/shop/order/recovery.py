"""Orders without a checkout saga: placed before the order and its saga were written in one transaction.

``POST /v1/orders`` now commits the order and its saga together, so a crash can no longer leave one without the
other; orders placed by an older version (a rolling upgrade, or a database from before) may still lack their
saga. :class:`OrphanSweeper` looks for ``PENDING`` orders older than a threshold and starts their saga;
starting is idempotent by saga id (= order id), so racing a live request is harmless."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from apps.shop.order.checkout import CHECKOUT, checkout_input
from apps.shop.order.service import pending_orders_older_than
from baton.errors import BatonError, ConfigError, SagaError
from baton.kit import InstanceContext
from baton.kit.db import transaction
from baton.saga import SagaComponent, SagaNotFound

log = logging.getLogger(__name__)


class OrphanSweeper:
    """A component: periodically starts the checkout saga of ``PENDING`` orders that have none."""

    name = "orphan_orders"

    def __init__(
        self,
        sagas: SagaComponent,
        *,
        older_than: Callable[[], float] = lambda: 10.0,
        interval: Callable[[], float] = lambda: 5.0,
    ) -> None:
        """
        Args:
            sagas: the component hosting the checkout saga.
            older_than: seconds a ``PENDING`` order may go without a saga; interval: seconds between sweeps.
        """
        self._sagas = sagas
        self._older_than = older_than
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self.started = 0
        """Sagas this sweeper started (orphans found)."""

    async def start(self, ctx: InstanceContext) -> None:
        """Start sweeping in the background."""
        if ctx.sessions is None:
            raise ConfigError("the orphan sweeper needs the instance's database")
        self._sessions = ctx.sessions
        self._task = asyncio.create_task(self._loop(), name="order-orphan-sweeper")

    async def sweep(self) -> int:
        """One sweep: start the saga of every orphaned order found; how many were started."""
        assert self._sessions is not None
        async with transaction(self._sessions) as session:
            candidates = await pending_orders_older_than(session, time.time() - self._older_than())
        orchestrator = self._sagas.orchestrator
        found = 0
        for order in candidates:
            try:
                await orchestrator.store.get(order.order_id)
                continue
            except SagaNotFound:
                pass
            await orchestrator.start(CHECKOUT, checkout_input(order), saga_id=order.order_id)
            log.warning("order %s had no checkout saga; started it", order.order_id)
            found += 1
        self.started += found
        return found

    async def check(self) -> None:
        """Always ready: a sweep that fails is retried at the next interval."""

    async def drain(self) -> None:
        """Stop sweeping (the orchestrator stops taking sagas on drain too)."""
        await self.stop()

    async def stop(self) -> None:
        """Cancel the sweeping task (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval())
            try:
                await self.sweep()
            except (BatonError, SagaError) as exc:
                log.warning("orphan sweep failed: %s", exc)
