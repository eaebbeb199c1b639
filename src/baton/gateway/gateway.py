"""The gateway as a component: listen, serve, hot-reload, drain.

::

    async with Gateway(config).serve("127.0.0.1", 0) as gateway:
        ...  # gateway.url answers

``serve`` owns everything it starts (listener, sweeper, config watcher, discovery watches, quota flusher,
access-log flusher) and stops it on exit: readiness flips first, in-flight requests finish (up to the grace
period), then connections close and pending quota counts are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import orjson

from baton.discovery.base import Registry
from baton.errors import ConfigError
from baton.gateway.accesslog import AccessLog
from baton.gateway.build import build_table, load_openapi
from baton.gateway.config import GatewayConfig, load_config
from baton.gateway.connection import ClientConnection
from baton.gateway.metrics import RedMetrics
from baton.gateway.policies.auth import Authenticator
from baton.gateway.policies.quota import QuotaStore, RedisQuotaStore, SqliteQuotaStore
from baton.gateway.policies.ratelimit import TokenBuckets
from baton.gateway.pool import UpstreamPool
from baton.gateway.servicetokens import UpstreamTokens
from baton.gateway.state import GatewayState
from baton.gateway.tracing import EdgeTracer
from baton.gateway.upstreams import Upstreams

if TYPE_CHECKING:
    from baton.kit.component import InstanceContext
    from baton.security.wiring import InstanceSecurity

log = logging.getLogger("baton.gateway")

JSON = b"application/json"
TICK = 0.05
"""Seconds between deadline checks: upstream timeouts fire within this much of their due time."""


def default_home() -> Path:
    """``$BATON_HOME`` or ``.baton`` in the working directory."""
    return Path(os.environ.get("BATON_HOME", ".baton"))


class Gateway:
    """An API gateway serving one :class:`GatewayConfig` (replaceable at run time with :meth:`reload`)."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        registry: Registry | None = None,
        config_path: str | Path | None = None,
        home: Path | None = None,
        access_log: BinaryIO | None = None,
        balancer: str = "round_robin",
        freeze_heap: bool = False,
        security: InstanceSecurity | None = None,
    ) -> None:
        """
        Args:
            freeze_heap: ``gc.freeze()`` once started (the ``python -m baton.gateway`` process does; an embedded
                gateway leaves its host's heap alone).
            security: the process's Baton leaf and service tokens (``InstanceSecurity.current()`` under
                ``baton up``): ``https`` upstreams are then reached over mutual TLS, expecting each target
                service's SPIFFE ID, with a service token for it; the leaf is renewed while serving.
        """
        self.config = config
        self._freeze_heap = freeze_heap
        self.security = security
        self.registry = registry
        self.config_path = Path(config_path) if config_path else None
        self.home = home or default_home()
        self._access_stream = access_log
        self._balancer = balancer
        self.state: GatewayState | None = None
        self.host = config.host
        self.port = config.port
        self.reloads = 0
        """Successful reloads so far."""
        self.last_reload_error: str | None = None
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._started_at = 0.0
        self._jwks_settled = False
        """Every issuer's JWKS loaded once, or ``jwks_ready_timeout`` passed: JWKS trouble no longer holds readiness."""

    @property
    def url(self) -> str:
        """Base URL of the listener."""
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def ready(self) -> bool:
        """Serving and not draining."""
        return self._started and self.state is not None and not self.state.draining

    @classmethod
    def from_file(cls, path: str | Path, **options: object) -> Gateway:
        """A gateway for the config (or manifest) at ``path``, reloaded when the file changes."""
        return cls(load_config(path), config_path=path, **options)  # type: ignore[arg-type]

    # lifecycle ------------------------------------------------------------------------------------------

    def _quota_store(self) -> QuotaStore:
        if self.config.redis_url:
            return RedisQuotaStore(self.config.redis_url)
        path = Path(self.config.quota_db) if self.config.quota_db else self.home / "gateway" / "quotas.db"
        return SqliteQuotaStore(path)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.tls_cert:
            return None
        if not self.config.tls_key:
            raise ConfigError("tls_cert needs tls_key")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        return context

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Build the state, start listening and the background work."""
        config = self.config
        loop = asyncio.get_running_loop()
        upstream_ssl = ssl.create_default_context(cafile=config.upstream_ca) if config.upstream_ca else None
        quotas = self._quota_store()
        stream_log = AccessLog(self._access_stream) if config.access_log else None
        state = GatewayState(
            config,
            loop=loop,
            upstreams=Upstreams(registry=self.registry, static=config.services, balancer=self._balancer),
            pool=UpstreamPool(
                idle_timeout=config.upstream_idle,
                ssl_context=upstream_ssl,
                tls_for=self.security.client_context if self.security is not None else None,
            ),
            authenticator=Authenticator(
                config.issuers,
                config.api_keys,
                api_key_header=config.api_key_header,
                cache_size=config.token_cache_size,
            ),
            buckets=TokenBuckets(),
            quotas=quotas,
            metrics=RedMetrics(),
            access_log=stream_log,
            tracer=EdgeTracer(),
        )
        state.internal_endpoints = {"/livez": self._livez, "/readyz": self._readyz, "/metrics": self._metrics}
        state.metrics.gauges["connections"] = lambda: len(state.connections)
        state.metrics.gauges["requests_in_flight"] = lambda: state.in_flight()
        state.metrics.gauges["upstream_idle_connections"] = lambda: state.pool.idle_count()
        security = self.security
        if security is not None:
            if security.token_provider is not None:
                state.tokens = UpstreamTokens(security.token_provider)
            # The renewer reads no instance context; it hot-swaps renewed leaves into the upstream contexts.
            await security.renewer.start(cast("InstanceContext", None))
        self.state = state
        state.table = build_table(config, state)
        await state.upstreams.start()
        await self._load_openapi(state)
        if isinstance(quotas, SqliteQuotaStore):
            quotas.start()
        if stream_log is not None:
            stream_log.start()
        self._started_at = loop.time()
        self._jwks_settled = False
        await self._warm_jwks(state)
        self._server = await loop.create_server(
            lambda: ClientConnection(state),
            host or self.host,
            self.port if port is None else port,
            ssl=self._ssl_context(),
            backlog=2048,
            reuse_address=True,
        )
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = sockname[0], sockname[1]
        self._tasks.append(loop.create_task(self._sweep(), name="gateway-sweeper"))
        self._tasks.append(loop.create_task(self._tick(), name="gateway-deadlines"))
        self._tasks.append(loop.create_task(self._watch_keys(), name="gateway-jwks"))
        if self.config_path is not None:
            self._tasks.append(loop.create_task(self._watch_config(), name="gateway-config-watch"))
        self._started = True
        if self._freeze_heap:
            # Start-up objects (modules, config, route table) move to a permanent generation: full collections
            # no longer walk them, which keeps rare multi-millisecond GC pauses out of the proxy's p99.
            gc.collect()
            gc.freeze()
        log.info("gateway listening on %s with %d routes", self.url, len(state.table.routes))

    async def aclose(self, *, grace: float = 10.0) -> None:
        """Drain (readiness off, in-flight requests finish within ``grace``) and release everything."""
        state = self.state
        if state is None:
            return
        state.draining = True
        if self._server is not None:
            self._server.close()
        for conn in list(state.connections):
            if conn.idle():
                conn.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                while state.in_flight():  # noqa: ASYNC110 - exchanges finish in protocol callbacks, not tasks
                    await asyncio.sleep(0.02)
        for conn in list(state.connections):
            conn.abort()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await state.cancel_tasks()
        state.pool.close_all()
        await state.upstreams.aclose()
        if state.tokens is not None:
            await state.tokens.aclose()
        if self.security is not None:
            await self.security.renewer.stop()
        await state.quotas.aclose()
        state.flush_records()
        if state.access_log is not None:
            await state.access_log.aclose()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        self._started = False
        self.state = None

    @contextlib.asynccontextmanager
    async def serve(self, host: str | None = None, port: int | None = None) -> AsyncIterator[Gateway]:
        """Serve for the duration of the block (``port=0`` picks a free port; see :attr:`url`)."""
        await self.start(host, port)
        try:
            yield self
        finally:
            await self.aclose()

    # reload ---------------------------------------------------------------------------------------------

    async def reload(self, config: GatewayConfig) -> None:
        """Swap in a new route table (and identities) without touching open connections.

        Listener settings (host, port, TLS) and the quota backend keep their startup values.
        """
        state = self.state
        if state is None:
            self.config = config
            return
        state.config = config
        state.upstreams.set_static(config.services)
        state.authenticator = Authenticator(
            config.issuers,
            config.api_keys,
            api_key_header=config.api_key_header,
            cache_size=config.token_cache_size,
            jwks=state.authenticator.jwks,
        )
        table = build_table(config, state)
        await state.upstreams.start()
        previous = state.table
        state.table = table
        await self._load_openapi(state)
        self.config = config
        self.reloads += 1
        log.info("gateway reloaded: %d routes (was %d)", len(table.routes), len(previous.routes))

    async def _watch_config(self) -> None:
        assert self.config_path is not None
        path = self.config_path

        def signature() -> tuple[int, int, int] | None:
            try:
                st = path.stat()
            except OSError:
                return None
            return (st.st_mtime_ns, st.st_size, st.st_ino)

        seen = signature()
        while True:
            await asyncio.sleep(self.config.reload_interval)
            current = signature()
            if current is None or current == seen:
                continue
            seen = current
            try:
                config = await asyncio.to_thread(load_config, path)
                await self.reload(config)
                self.last_reload_error = None
            except ConfigError as exc:
                # Keep serving the last good table: a typo must never take the edge down.
                self.last_reload_error = str(exc)
                log.error("gateway config not reloaded: %s", exc)

    # background -----------------------------------------------------------------------------------------

    async def _sweep(self) -> None:
        state = self.state
        assert state is not None
        while True:
            await asyncio.sleep(1.0)
            now = state.loop.time()
            for conn in list(state.connections):
                conn.sweep(now)
            state.pool.sweep()

    async def _tick(self) -> None:
        state = self.state
        assert state is not None
        while True:
            await asyncio.sleep(TICK)
            state.expire(state.loop.time())

    async def _load_openapi(self, state: GatewayState) -> None:
        for route in state.table.routes:
            await load_openapi(route, state)

    async def _watch_keys(self) -> None:
        """Refresh each issuer's JWKS when its ``jwks_refresh`` interval has passed."""
        while True:
            await asyncio.sleep(1.0)
            state = self.state
            if state is None:
                continue
            for keys in list(state.authenticator.jwks.values()):
                if keys.due():
                    try:
                        await keys.refresh(force=True)  # due() already spaced it
                    except Exception as exc:
                        log.warning("%s (the keys fetched before stay in use)", exc)
            self._note_jwks(state)

    async def _warm_jwks(self, state: GatewayState) -> None:
        for keys in state.authenticator.jwks.values():
            try:
                await keys.refresh(force=True)
            except Exception as exc:
                log.warning("%s (will retry when a token needs it)", exc)
        self._note_jwks(state)

    def _note_jwks(self, state: GatewayState) -> None:
        """Once every issuer's keys have loaded, JWKS trouble (an issuer a reload adds) no longer holds readiness."""
        if not self._jwks_settled and all(keys.loaded for keys in state.authenticator.jwks.values()):
            self._jwks_settled = True

    # internal endpoints ---------------------------------------------------------------------------------

    def _livez(self) -> tuple[int, bytes, bytes]:
        return 200, JSON, b'{"status":"ok"}'

    def _readyz(self) -> tuple[int, bytes, bytes]:
        state = self.state
        checks: dict[str, str] = {}
        if state is None or state.draining:
            checks["serving"] = "draining"
        elif not state.table.routes:
            checks["routes"] = "no routes configured"
        if self.last_reload_error:
            checks["config"] = "last reload failed: " + self.last_reload_error
        waiting = False
        if state is not None:
            pending = sorted(url for url, keys in state.authenticator.jwks.items() if not keys.loaded)
            if not pending:
                self._jwks_settled = True
            else:
                # Only the start waits for keys (bounded): once the gateway has served, or the identity service
                # stays down past the timeout, a missing key set is reported, not a reason to leave rotation.
                if not self._jwks_settled and state.loop.time() - self._started_at >= self.config.jwks_ready_timeout:
                    self._jwks_settled = True
                waiting = not self._jwks_settled
                what = "waiting for the first load of " if waiting else "never loaded (its tokens are refused): "
                checks["jwks"] = what + ", ".join(pending)
        ready = "serving" not in checks and "routes" not in checks and not waiting
        body = orjson.dumps({"status": "ready" if ready else "not ready", "checks": checks or {"all": "ok"}})
        return (200 if ready else 503), JSON, body

    def _metrics(self) -> tuple[int, bytes, bytes]:
        assert self.state is not None
        return 200, b"text/plain; version=0.0.4; charset=utf-8", self.state.metrics.render()
