"""The client's live view of a target's instances, fed by a discovery watch it owns."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from baton.discovery.base import Instance, Registry
from baton.errors import NoInstances
from baton.resilience import deadline

log = logging.getLogger(__name__)

FIRST_LIST_WAIT = 5.0
"""Seconds the first call waits for discovery's first answer (also bounded by the request deadline)."""


class InstanceView:
    """Keeps the current instance list of one service up to date from ``registry.watch``.

    The watch runs in one background task owned by this view (started on first use, stopped by
    :meth:`aclose`), so the hot path reads a plain list and never awaits discovery.
    """

    def __init__(self, service: str, registry: Registry) -> None:
        self.service = service
        self.registry = registry
        self.instances: list[Instance] = []
        self._task: asyncio.Task[None] | None = None
        self._first = asyncio.Event()

    async def current(self) -> list[Instance]:
        """The instances right now.

        Raises:
            NoInstances: discovery knows none (or gave no answer in time).
        """
        if self.instances:
            return self.instances
        self.start()
        if not self._first.is_set():
            left = deadline.remaining()
            wait = FIRST_LIST_WAIT if left is None else max(0.0, min(left, FIRST_LIST_WAIT))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._first.wait()
        if not self.instances:
            raise NoInstances(f"no ready instance of {self.service!r} in discovery", target=self.service)
        return self.instances

    def start(self) -> None:
        """Start following discovery in the background (idempotent; the first call does it otherwise)."""
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name=f"discovery-watch:{self.service}")

    async def _follow(self) -> None:
        while True:
            try:
                async with contextlib.aclosing(self.registry.watch(self.service)) as updates:  # type: ignore[type-var]
                    async for instances in updates:
                        self.instances = list(instances)
                        self._first.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("discovery watch of %s failed (%s); retrying", self.service, exc)
            # The watch ended or failed (e.g. NATS reconnecting): keep the last list and watch again.
            await asyncio.sleep(0.5)

    async def aclose(self) -> None:
        """Stop the watch task."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
