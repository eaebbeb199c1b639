"""A fixed (or hand-edited) list of instances: for tests, local runs and systems without discovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable

from baton.discovery.base import Instance


class StaticRegistry:
    """Instances held in memory; ``register``/``deregister`` edit the list and wake watchers at once."""

    def __init__(self, instances: Iterable[Instance] = ()) -> None:
        self._instances: dict[str, dict[str, Instance]] = {}
        self._changed = asyncio.Condition()
        self._version = 0
        for instance in instances:
            self._instances.setdefault(instance.service, {})[instance.id] = instance

    async def register(self, instance: Instance) -> None:
        """Add or replace ``instance``."""
        self._instances.setdefault(instance.service, {})[instance.id] = instance
        await self._notify()

    async def deregister(self, instance: Instance) -> None:
        """Remove ``instance`` (no error if it was not there)."""
        self._instances.get(instance.service, {}).pop(instance.id, None)
        await self._notify()

    async def resolve(self, service: str) -> list[Instance]:
        """The instances of ``service``, ordered by id."""
        return self._snapshot(service)

    async def watch(self, service: str) -> AsyncGenerator[list[Instance], None]:
        """The current list, then the list again after every change that affects ``service``."""
        last = self._snapshot(service)
        yield last
        while True:
            async with self._changed:
                await self._changed.wait()
            current = self._snapshot(service)
            if current != last:
                last = current
                yield current

    def _snapshot(self, service: str) -> list[Instance]:
        return sorted(self._instances.get(service, {}).values(), key=lambda i: i.id)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
