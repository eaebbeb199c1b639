"""The readiness monitor: tells interested components when the instance becomes ready or unready.

``/readyz`` answers whoever asks; discovery needs to *act* on a change — join the callers' rotation once the
instance can serve, leave it when a check fails, rejoin on recovery. The monitor is one background task owned
by the :class:`~baton.kit.runtime.InstanceRuntime`: it waits until the HTTP server listens (nothing is
announced that cannot be reached), then runs the readiness checks every ``interval`` seconds and calls
``mark_ready()`` / ``mark_unready()`` on its listeners when the outcome flips. It is cancelled first thing
on shutdown, so drain has the last word.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

from baton.kit.health import Readiness
from baton.telemetry.logging import get_logger

__all__ = ["MONITOR_INTERVAL", "ReadinessListener", "ReadinessMonitor"]

MONITOR_INTERVAL = 0.5
"""Seconds between two readiness evaluations: how long a failing check stays in rotation at most."""

STARTUP_INTERVAL = 0.05
"""Seconds between evaluations until the instance is first ready (a dependency check failing once at start-up,
e.g. before discovery has listed the dependency, must not delay the announcement by a whole interval)."""

STARTUP_WINDOW = 10.0
"""Seconds after serving during which evaluations run at :data:`STARTUP_INTERVAL` while never yet ready."""

_log = get_logger("baton.kit.monitor")


@runtime_checkable
class ReadinessListener(Protocol):
    """A component that acts on readiness changes (discovery registration)."""

    name: str

    async def mark_ready(self) -> None:
        """The instance became ready (idempotent)."""

    async def mark_unready(self) -> None:
        """The instance stopped being ready (idempotent)."""


class ReadinessMonitor:
    """Runs ``readiness`` periodically and reports flips to ``listeners``.

    Checks named in ``skip`` are left out: a listener's own check must not decide whether it is told (the
    discovery check failing because the instance is not registered would keep it unregistered for ever).
    """

    def __init__(
        self,
        readiness: Readiness,
        listeners: Sequence[ReadinessListener],
        *,
        interval: float = MONITOR_INTERVAL,
        skip: Collection[str] = (),
    ) -> None:
        self.readiness = readiness
        self.listeners = list(listeners)
        self.interval = interval
        self.skip = frozenset(skip)
        self.ready = False
        """What the listeners were last told successfully (they start out unready)."""

    async def run(self, serving: asyncio.Event) -> None:
        """Wait for ``serving`` (the HTTP server listens), then evaluate every ``interval`` until cancelled."""
        await serving.wait()
        loop = asyncio.get_running_loop()
        fast_until = loop.time() + STARTUP_WINDOW
        announced = False
        while True:
            await self.evaluate()
            announced = announced or self.ready
            fast = not announced and loop.time() < fast_until
            await asyncio.sleep(min(STARTUP_INTERVAL, self.interval) if fast else self.interval)

    async def evaluate(self) -> bool:
        """Run the checks once and tell the listeners if the outcome changed; return the outcome."""
        results = await self.readiness.run(skip=self.skip)
        ready = all(result.ok for result in results)
        if ready != self.ready:
            failing = {r.name: r.reason for r in results if not r.ok}
            for listener in self.listeners:
                try:
                    await (listener.mark_ready() if ready else listener.mark_unready())
                except Exception as exc:  # e.g. the registry is unreachable: leave the state, retry next time
                    _log.warning("readiness listener failed", listener=listener.name, ready=ready, error=repr(exc))
                    return ready
            self.ready = ready
            _log.info("readiness changed", ready=ready, failing=failing)
        return ready
