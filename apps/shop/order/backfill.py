"""Filling the price read model from the catalog when the order service has never done so.

Events only carry what happens after the order service first subscribed; a fresh read model would miss
every product created before. :class:`PriceBackfill` pages through the catalog's ``GET /v1/products`` once,
applying each price with the same version rule as the events (so it may overlap them freely), and records
a mark when done. Until the catalog answers it keeps trying with capped exponential backoff, and the
instance reports not ready: it cannot price an order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from apps.shop.order.peers import Catalog
from apps.shop.order.prices import BACKFILLED, Price, apply_price, is_marked, mark
from baton.errors import BatonError, ConfigError
from baton.kit import InstanceContext
from baton.kit.db import transaction

log = logging.getLogger(__name__)


class PriceBackfill:
    """A component: one backfill of the price read model, in a task it owns."""

    name = "price_backfill"

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        *,
        page_size: Callable[[], int] = lambda: 100,
        max_backoff: Callable[[], float] = lambda: 5.0,
    ) -> None:
        """
        Args:
            catalog: returns the catalog to read (looked up at start, so tests can swap it).
            page_size: products per page; max_backoff: longest wait between attempts (seconds).
        """
        self._catalog = catalog
        self._page_size = page_size
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self._done = asyncio.Event()
        self.applied = 0
        """Prices the last backfill applied (newer than what events had brought)."""

    async def start(self, ctx: InstanceContext) -> None:
        """Start the backfill in the background (or note that it was done before)."""
        if ctx.sessions is None:
            raise ConfigError("the price backfill needs the instance's database")
        self._done = asyncio.Event()
        self.applied = 0
        async with transaction(ctx.sessions) as session:
            if await is_marked(session, BACKFILLED):
                self._done.set()
                return
        self._task = asyncio.create_task(self._run(ctx.sessions), name="order-price-backfill")

    async def wait(self) -> None:
        """Return once the backfill has completed."""
        await self._done.wait()

    async def check(self) -> None:
        """Ready once the read model was filled at least once."""
        if not self._done.is_set():
            raise BatonError("price read model not backfilled from the catalog yet")

    async def drain(self) -> None:
        """Nothing to drain: the backfill either finishes or restarts with the next instance."""

    async def stop(self) -> None:
        """Cancel an unfinished backfill (the next start runs it again)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        cursor: str | None = None
        failures = 0
        while True:
            try:
                items, next_cursor = await self._catalog().products(limit=self._page_size(), cursor=cursor)
                async with transaction(sessions) as session:
                    for item in items:
                        price = Price(
                            str(item["id"]), int(item["price_cents"]), str(item["currency"]), int(item["version"])
                        )
                        self.applied += await apply_price(session, price)
                    if next_cursor is None:
                        await mark(session, BACKFILLED)
            except (BatonError, KeyError, ValueError, TypeError) as exc:
                failures += 1
                delay = min(self._max_backoff(), 0.2 * 2 ** min(failures, 10))
                log.warning("price backfill: catalog page failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if next_cursor is None:
                log.info("price backfill complete: %d prices applied", self.applied)
                self._done.set()
                return
            cursor = next_cursor
