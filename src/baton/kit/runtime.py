"""The life of one service instance: bring its resources up in order, take them down in reverse.

Start: database engine ▸ migrations ▸ NATS connection ▸ components (in the order they were added) ▸ ready
▸ the readiness monitor starts (it acts once the HTTP server listens: :meth:`InstanceRuntime.mark_serving`).
Shutdown (see :mod:`baton.kit.component`): readiness flips (phase ``draining``) ▸ the monitor is cancelled ▸
components ``drain()`` in reverse (discovery, added last, deregisters first) ▸ (the HTTP server lets in-flight
requests finish) ▸ components ``stop()`` in reverse ▸ NATS drains ▸ the engine is disposed. Each component
step is bounded by the instance's ``shutdown_grace`` so one stuck component cannot hold the process hostage.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import text

from baton.errors import StoreError
from baton.kit.bus import connect_bus
from baton.kit.component import Component, InstanceContext
from baton.kit.db import create_engine, session_factory
from baton.kit.migrator import MigrationSource, migrate
from baton.kit.monitor import ReadinessMonitor
from baton.kit.settings import InstanceSettings
from baton.telemetry.logging import get_logger

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["METRICS_REGISTRY", "InstanceRuntime", "Phase", "metrics_registry"]

METRICS_REGISTRY = "metrics_registry"
"""Key of :attr:`InstanceContext.extras <baton.kit.component.InstanceContext.extras>` holding the instance's
Prometheus ``CollectorRegistry`` (the one ``/metrics`` renders), for components that add metrics of their own."""

_log = get_logger("baton.kit")


class Phase(enum.StrEnum):
    """Where an instance is in its life."""

    CREATED = "created"
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"


class InstanceRuntime:
    """Owns an instance's engine, NATS connection and started components."""

    def __init__(
        self,
        *,
        service: str,
        settings: InstanceSettings,
        migrations: Sequence[MigrationSource],
        components: Sequence[Component],
        monitor: ReadinessMonitor | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        """Args: monitor: reports readiness flips to components that act on them (discovery); runs from ready
        to drain as a task owned by this runtime. metrics_registry: the registry ``/metrics`` renders, offered
        to components in ``ctx.extras`` (:func:`metrics_registry`)."""
        self.settings = settings
        self.migrations = list(migrations)
        self.components = list(components)
        self.monitor = monitor
        self.phase = Phase.CREATED
        self.context = InstanceContext(service=service, instance=settings.instance_id(), settings=settings)
        if metrics_registry is not None:
            self.context.extras[METRICS_REGISTRY] = metrics_registry
        self.serving = asyncio.Event()
        """Set once the HTTP server listens: before that the monitor announces nothing."""
        self._started: list[Component] = []
        self._monitor_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the database (migrated), the bus and the components; on failure undo what was done.

        Raises:
            StoreError: the database cannot be opened or migrated.
            BrokerUnavailable: NATS is configured but unreachable.
        """
        self.phase = Phase.STARTING
        ctx = self.context
        try:
            ctx.engine = create_engine(self.settings.database_url())
            await migrate(ctx.engine, self.migrations)
            ctx.sessions = session_factory(ctx.engine)
            if self.settings.nats_url:
                ctx.nats = await connect_bus(self.settings.nats_url, name=ctx.instance)
            for component in self.components:
                await component.start(ctx)
                self._started.append(component)
        except BaseException:
            await self.stop()
            raise
        self.phase = Phase.READY
        if self.monitor is not None:
            self._monitor_task = asyncio.create_task(
                self.monitor.run(self.serving), name=f"readiness-monitor:{ctx.instance}"
            )
        _log.info("instance ready", components=[c.name for c in self._started])

    def mark_serving(self) -> None:
        """The HTTP server listens: from now on the instance may be announced (e.g. join discovery)."""
        self.serving.set()

    async def drain(self) -> None:
        """Flip readiness and let every started component stop taking new work (idempotent)."""
        if self.phase in (Phase.DRAINING, Phase.STOPPED):
            return
        self.phase = Phase.DRAINING
        _log.info("draining")
        # The monitor goes first: it must not re-announce the instance while components drain.
        await self._stop_monitor()
        for component in reversed(self._started):
            await self._bounded(component, "drain")

    async def _stop_monitor(self) -> None:
        task, self._monitor_task = self._monitor_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        """Drain if not done yet, stop components, drain NATS, dispose of the engine (idempotent)."""
        if self.phase is Phase.STOPPED:
            return
        await self.drain()
        while self._started:
            await self._bounded(self._started.pop(), "stop")
        ctx = self.context
        if ctx.nats is not None:
            try:
                if ctx.nats.is_connected:
                    await asyncio.wait_for(ctx.nats.drain(), timeout=self.settings.shutdown_grace)
                else:
                    await ctx.nats.close()
            except Exception as exc:  # shutting down: report and go on releasing the rest
                _log.warning("bus drain failed", error=str(exc) or type(exc).__name__)
            ctx.nats = None
        if ctx.engine is not None:
            await ctx.engine.dispose()
            ctx.engine = None
            ctx.sessions = None
        self.phase = Phase.STOPPED
        _log.info("instance stopped")

    async def _bounded(self, component: Component, step: str) -> None:
        try:
            async with asyncio.timeout(self.settings.shutdown_grace):
                await getattr(component, step)()
        except Exception as exc:  # one component failing must not keep the others from shutting down
            _log.warning(f"component {step} failed", component=component.name, error=repr(exc))

    async def check_database(self) -> None:
        """Readiness check ``db``: a ``SELECT 1`` round trip."""
        engine = self.context.engine
        if engine is None:
            raise StoreError("database not open")
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))


def metrics_registry(ctx: InstanceContext) -> CollectorRegistry | None:
    """The Prometheus registry the instance's ``/metrics`` renders (``None`` outside a :class:`Service`)."""
    registry = ctx.extras.get(METRICS_REGISTRY)
    return registry  # type: ignore[no-any-return]
