"""``Service``: a FastAPI app with everything a production service needs, always on.

::

    service = Service("catalog", settings=CatalogSettings, metadata=metadata, migrations=HERE / "migrations")

    @service.post("/v1/products", status_code=201)
    @service.idempotent
    async def create_product(body: NewProduct, session: SessionDep) -> Product:
        ...
        await service.emit(session, type="shop.catalog.product.created.v1", data=..., subject=sku)

    # python -m baton.kit.serve apps.catalog.service:service

What every service gets: ``/livez``, ``/readyz`` (``?verbose``), ``/metrics``, ``/docs``; correlation id,
tracing, RED metrics, access log and problem+json errors (see :func:`baton.kit.middleware.kit_middleware`);
its own database, migrated at start; one NATS connection when ``BATON_NATS_URL`` is set, and with it the
platform components — live config (``config``), the event runtime (``events``: outbox relay, consumers
for the service's handlers; it runs whether or not the service declared handlers, since any request may
emit) and, last, discovery registration (``discovery``: the instance is in the NATS KV registry while it is
ready and the HTTP server listens — see :mod:`baton.kit.monitor`; opt out with ``BATON_DISCOVERY=off`` or
``Service(discovery=False)``); graceful shutdown (:mod:`baton.kit.runtime`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from baton.errors import BatonError, ConfigError
from baton.kit.bus import bus_check
from baton.kit.component import Component, InstanceContext
from baton.kit.db import transaction
from baton.kit.events import EventHooks, events_available
from baton.kit.health import Check, DependencyCheck, Readiness, assume_available, health_router
from baton.kit.idempotency import (
    IdempotencyPolicy,
    idempotent,
    in_request_transaction,
    policy_of,
    session_dependency,
)
from baton.kit.middleware import kit_middleware
from baton.kit.migrator import MigrationSource, framework_sources
from baton.kit.monitor import ReadinessListener, ReadinessMonitor
from baton.kit.problems import install_problem_handlers
from baton.kit.routing import KitRoute, is_kit_routed
from baton.kit.runtime import InstanceRuntime, Phase
from baton.kit.settings import InstanceSettings, ServiceSettings
from baton.telemetry.metrics import HttpServerMetrics

__all__ = ["Service", "SessionDep", "current_service"]

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=ServiceSettings)

# FastAPI's own OpenTelemetry instrumentation would open a second server span and export metrics of its
# own next to the kit's; the kit's middleware owns both.
_FASTAPI_TELEMETRY_OFF: Any = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


class Service:
    """A service: its HTTP app, database, bus connection, components and readiness checks."""

    def __init__(
        self,
        name: str,
        *,
        settings: type[ServiceSettings] | None = None,
        metadata: MetaData | None = None,
        migrations: str | Path | None = None,
        version: str | None = None,
        dependencies: Sequence[str] = (),
        dependency_check: DependencyCheck = assume_available,
        discovery: bool = True,
    ) -> None:
        """Create the service and its app.

        Args:
            settings: the service's own pydantic-settings class (``HELLO_*``); read on first access.
            metadata: the service's tables (for tests and :func:`~baton.kit.migrator.write_revision`).
            migrations: the service's Alembic migration directory, applied at start.
            version: the API version shown in the OpenAPI document (default: ``BATON_VERSION`` or "dev").
            dependencies: services this one cannot work without; each becomes a readiness check.
            dependency_check: how those are checked (default: :func:`~baton.kit.health.assume_available`).
            discovery: register each instance in discovery while it is ready (when it has a bus and
                ``BATON_DISCOVERY`` is not ``off``); ``False`` for instances nobody calls by name.
        """
        self.name = name
        self.discovery = discovery
        self.metadata = metadata
        self.migrations = Path(migrations) if migrations is not None else None
        self.dependencies = tuple(dependencies)
        self.metrics = HttpServerMetrics(service=name)
        self.readiness = Readiness()
        self.events = EventHooks(source=name)
        self.runtime: InstanceRuntime | None = None
        self._settings_class = settings or ServiceSettings
        self._settings: ServiceSettings | None = None
        self._instance_settings: InstanceSettings | None = None
        self._components: list[Component] = []

        self.app = FastAPI(
            title=name,
            version=version or os.environ.get("BATON_VERSION", "dev"),
            lifespan=self._lifespan,
            middleware=kit_middleware(metrics=self.metrics),
            telemetry=_FASTAPI_TELEMETRY_OFF,
        )
        self.app.state.baton_service = self
        self.app.state.baton_sessions = None
        # Routes added through the service honour the kit's per-route options (idempotency).
        self.app.router.route_class = KitRoute
        self.router = self.app.router
        install_problem_handlers(self.app)
        self.app.include_router(health_router(self.readiness))
        self.app.add_api_route("/metrics", self._metrics_endpoint, include_in_schema=False)
        self._register_builtin_checks(dependency_check)

        self.get = self.router.get
        self.post = self.router.post
        self.put = self.router.put
        self.patch = self.router.patch
        self.delete = self.router.delete
        self.include_router = self.app.include_router

    # -- settings ---------------------------------------------------------------------------------

    @property
    def settings(self) -> Any:
        """The service's own settings (an instance of the ``settings`` class), read from the env once."""
        if self._settings is None:
            self._settings = self._settings_class()
        return self._settings

    def reload_settings(self) -> None:
        """Forget the service settings read so far; the next access reads ``<SERVICE>_*`` again (tests)."""
        self._settings = None

    @property
    def instance_settings(self) -> InstanceSettings:
        """This instance's ``BATON_*`` settings (read from the environment unless :meth:`configure` ran)."""
        if self._instance_settings is None:
            self._instance_settings = InstanceSettings(service=self.name)
        return self._instance_settings

    def configure(self, settings: InstanceSettings) -> None:
        """Use ``settings`` for the next start instead of reading ``BATON_*`` (its service name is ours)."""
        self._instance_settings = settings.model_copy(update={"service": self.name})

    # -- building blocks ----------------------------------------------------------------------------

    def add_component(self, component: Component) -> None:
        """Start ``component`` with the instance (after the database and bus), stop it in reverse order.

        Its ``check()`` becomes the readiness check named after it.
        """
        self._components.append(component)
        self.readiness.add(component.name, component.check)

    def readiness_check(self, name: str) -> Callable[[Check], Check]:
        """Register the decorated ``async def check() -> None`` (raise to report not ready)."""

        def register(check: Check) -> Check:
            self.readiness.add(name, check)
            return check

        return register

    def idempotent(self, fn: F | None = None, *, policy: IdempotencyPolicy | None = None) -> Any:
        """Honour ``Idempotency-Key`` on the decorated endpoint (see :mod:`baton.kit.idempotency`)."""
        return idempotent(fn, policy=policy)

    def handler(self, type_or_pattern: str, **options: Any) -> Callable[[F], F]:
        """Declare an event handler (``baton.events.handler``); the event runtime consumes for it."""
        return self.events.handler(type_or_pattern, **options)

    async def emit(self, session: AsyncSession, *, type: str, data: Any = None, subject: str | None = None) -> Any:
        """Emit a CloudEvent from this service through the outbox, in ``session``'s transaction."""
        return await self.events.emit(session, type=type, data=data, subject=subject)

    # -- database -----------------------------------------------------------------------------------

    @property
    def context(self) -> InstanceContext:
        """The running instance's context (engine, sessions, NATS connection).

        Raises:
            ConfigError: the service is not running.
        """
        if self.runtime is None:
            raise ConfigError(f"service {self.name!r} is not running")
        return self.runtime.context

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The session factory of the running instance."""
        sessions = self.context.sessions
        if sessions is None:
            raise ConfigError(f"service {self.name!r} has no database open")
        return sessions

    def transaction(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """``async with service.transaction() as session:`` — committed at the end, rolled back on error."""
        return transaction(self.sessions)

    @property
    def session_dependency(self) -> Any:
        """``session: AsyncSession = service.session_dependency`` — same as annotating with :data:`SessionDep`.

        Function-scoped, so the transaction commits when the endpoint returns, before the response is sent.
        """
        return Depends(_request_session, scope="function")

    # -- lifecycle ----------------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        """Where the instance is in its life (``created`` before the first start)."""
        return self.runtime.phase if self.runtime is not None else Phase.CREATED

    @contextlib.asynccontextmanager
    async def running(self, settings: InstanceSettings | None = None) -> AsyncIterator[InstanceContext]:
        """Start the instance (database, migrations, bus, components), yield its context, then stop it.

        This is what the app's lifespan runs; tests can use it directly with ``httpx.ASGITransport``.
        """
        if settings is not None:
            self.configure(settings)
        self._check_routes()
        instance = self.instance_settings
        platform = self._platform_components(instance)
        for component in platform:
            self.readiness.add(component.name, component.check)
        # Platform components first: settings are live and events flow before the service's own start...
        components = [*platform, *self._components]
        registration = self._registration_component(instance)
        if registration is not None:
            # ...and discovery last: it announces an instance whose every other part is up, and is the first to
            # drain (deregistered before in-flight requests finish, so callers move away).
            components.append(registration)
            self.readiness.add(registration.name, registration.check)
            platform.append(registration)
        listeners = [c for c in components if isinstance(c, ReadinessListener)]
        monitor = None
        if listeners:
            # A listener's own check must not decide whether it is told (see ReadinessMonitor).
            monitor = ReadinessMonitor(self.readiness, listeners, skip={c.name for c in listeners})
        self.runtime = InstanceRuntime(
            service=self.name,
            settings=instance,
            migrations=self._migration_sources(),
            components=components,
            monitor=monitor,
            metrics_registry=self.metrics.registry,
        )
        try:
            await self.runtime.start()
            ctx = self.runtime.context
            if ctx.nats is not None:
                self.readiness.add("bus", bus_check(ctx.nats))
            self.app.state.baton_sessions = ctx.sessions
            yield ctx
        finally:
            await self.runtime.stop()
            self.app.state.baton_sessions = None
            # The next start (tests restart services) may run without a bus: forget this run's checks.
            for name in ["bus", *(c.name for c in platform)]:
                self.readiness.remove(name)

    def _platform_components(self, instance: InstanceSettings) -> list[Component]:
        """What the kit adds when the instance has a bus: live config, then the event runtime."""
        if not instance.nats_url:
            return []
        components: list[Component] = []
        live_config = _live_config_component(self)
        if live_config is not None:
            components.append(live_config)
        if events_available():
            components.append(self.events.runtime())
        return components

    def _registration_component(self, instance: InstanceSettings) -> Component | None:
        """Discovery registration, when the instance has a bus and neither the service nor the operator opted out."""
        if not (self.discovery and instance.nats_url and instance.discovery == "nats_kv"):
            return None
        # Imported late: discovery pulls in its backends (DNS over aiohttp) that a bus-less service never needs.
        from baton.discovery.registration import RegistrationComponent

        component: Component = RegistrationComponent()
        return component

    def mark_serving(self) -> None:
        """The HTTP server listens: the instance may join discovery as soon as it is ready (``serve`` calls this)."""
        if self.runtime is not None:
            self.runtime.mark_serving()

    async def begin_shutdown(self) -> None:
        """First steps of graceful shutdown: readiness answers 503, components stop taking new work."""
        if self.runtime is not None:
            await self.runtime.drain()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        async with self.running():
            yield

    def _migration_sources(self) -> list[MigrationSource]:
        sources = framework_sources()
        if self.migrations is not None:
            sources.append(MigrationSource(self.migrations))
        return sources

    def _check_routes(self) -> None:
        for route in _walk(self.app.routes):
            endpoint = getattr(route, "endpoint", None)
            if endpoint is not None and policy_of(endpoint) is not None and not is_kit_routed(endpoint):
                raise ConfigError(
                    f"{endpoint.__qualname__} is marked idempotent but its router is not a kit router; "
                    "create it with baton.kit.APIRouter() or add the route with service.post(...)"
                )

    def _register_builtin_checks(self, dependency_check: DependencyCheck) -> None:
        async def shutting_down() -> None:
            if self.phase is not Phase.READY:
                raise BatonError(f"instance is {self.phase.value}")

        async def db() -> None:
            if self.runtime is None:
                raise BatonError("instance not started")
            await self.runtime.check_database()

        self.readiness.add("shutting_down", shutting_down)
        self.readiness.add("db", db)
        for dependency in self.dependencies:
            self.readiness.add(f"dependency:{dependency}", _bind(dependency_check, dependency))

    async def _metrics_endpoint(self) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)


def _live_config_component(service: Service) -> Component | None:
    # Imported late: live config reaches into the control plane's config store, which imports the kit.
    try:
        from baton.kit.live_config import LiveConfig
    except ImportError:
        return None
    component: Component = LiveConfig(service)
    return component


def _walk(routes: Sequence[Any]) -> Iterator[Any]:
    for route in routes:
        yield route
        # FastAPI keeps an included router whole (unprefixed routes inside a wrapper); look inside.
        inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner:
            yield from _walk(inner)


def _bind(check: DependencyCheck, dependency: str) -> Check:
    async def dependency_ready() -> None:
        await check(dependency)

    return dependency_ready


def current_service(request: Request) -> Service:
    """The :class:`Service` serving ``request``."""
    service: Service = request.app.state.baton_service
    return service


@session_dependency
async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with current_service(request).transaction() as session, in_request_transaction(request.scope, session):
        yield session


SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
"""Route parameter type: ``session: SessionDep`` — a session in a transaction, committed when the endpoint
returns (before the response is sent: a client never sees 2xx for a write that then failed to commit)."""
