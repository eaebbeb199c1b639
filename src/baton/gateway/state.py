"""What every connection of a running gateway shares: the current route table, pools, limits and telemetry.

A config reload replaces :attr:`GatewayState.table` in one assignment; exchanges already under way keep the
route they matched, connections stay open, and token buckets and quota counters (which live here, not in
the table) carry over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from baton.gateway.accesslog import AccessLog
from baton.gateway.config import GatewayConfig
from baton.gateway.metrics import RedMetrics
from baton.gateway.policies.allowlist import AddressSet, client_address
from baton.gateway.policies.auth import Authenticator
from baton.gateway.policies.quota import QuotaStore
from baton.gateway.policies.ratelimit import TokenBuckets
from baton.gateway.pool import UpstreamPool
from baton.gateway.responses import problem
from baton.gateway.routing import RouteTable
from baton.gateway.servicetokens import UpstreamTokens
from baton.gateway.tracing import EdgeTracer
from baton.gateway.upstreams import Upstreams

if TYPE_CHECKING:
    from baton.gateway.connection import ClientConnection
    from baton.gateway.exchange import Exchange

InternalEndpoint = Callable[[], tuple[int, bytes, bytes]]
"""``() -> (status, content type, body)`` for ``/livez``, ``/readyz`` and ``/metrics``."""


class GatewayState:
    """Shared runtime state of one gateway (one event loop)."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        loop: asyncio.AbstractEventLoop,
        upstreams: Upstreams,
        pool: UpstreamPool,
        authenticator: Authenticator,
        buckets: TokenBuckets,
        quotas: QuotaStore,
        metrics: RedMetrics,
        access_log: AccessLog | None,
        tracer: EdgeTracer,
    ) -> None:
        self.config = config
        self.loop = loop
        self.upstreams = upstreams
        self.pool = pool
        self.authenticator = authenticator
        self.buckets = buckets
        self.quotas = quotas
        self.metrics = metrics
        self.access_log = access_log
        self.tracer = tracer
        self.tokens: UpstreamTokens | None = None
        """Service tokens for mutual-TLS upstreams (set when the process holds a Baton leaf)."""
        self.log = logging.getLogger("baton.gateway")
        self.table = RouteTable([])
        self.trusted = AddressSet(config.trusted_proxies)
        self.connections: set[ClientConnection] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.timed: set[Exchange] = set()
        """Exchanges waiting on an upstream, each with a ``deadline`` (a ticker beats per-request timers)."""
        self.draining = False
        self.scheme = b"https" if config.tls_cert else b"http"
        self.scheme_name = self.scheme.decode()
        """The listener's scheme as an instance's ``scheme`` spells it (``X-Forwarded-Proto`` only when they differ)."""
        self.internal_endpoints: dict[str, InternalEndpoint] = {}
        self.no_route = problem(404, "no route matches this path")
        self.no_instance = problem(503, "no instance of the upstream service is available")
        self._id_prefix = os.urandom(6).hex()
        self._id_counter = 0
        self._finished: list[tuple[Exchange, float]] = []
        """Exchanges finished in this loop iteration with their durations, waiting for :meth:`flush_records`."""
        self._flush_scheduled = False

    def client_ip(self, peer: str, forwarded_for: bytes | None) -> str:
        """The caller's address (``X-Forwarded-For`` only from trusted proxies)."""
        if forwarded_for is None or not self.trusted:
            return peer
        return client_address(peer, forwarded_for, self.trusted)

    def new_id(self) -> str:
        """A fresh correlation id: a per-process random prefix plus a counter (unique, and cheap)."""
        self._id_counter += 1
        return f"{self._id_prefix}{self._id_counter:08x}"

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a request's slow path (connect, async policy) as a task owned by the gateway."""
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel_tasks(self) -> None:
        """Cancel the request tasks still running (shutdown)."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def expire(self, now: float) -> None:
        """Time out the exchanges whose deadline passed."""
        expired = [e for e in self.timed if e.deadline <= now]
        for exchange in expired:
            exchange.on_timeout()

    def in_flight(self) -> int:
        """Requests being answered right now."""
        return sum(1 for c in self.connections if c.current is not None)

    def record(self, exchange: Exchange, seconds: float) -> None:
        """Metrics, access log and span end for a finished exchange.

        A recording OpenTelemetry span ends at once (its end time is the answer's); metrics and the access
        line are queued and written for every request finished in this loop iteration by one call soon after
        (:meth:`flush_records`): the same values and lines, with a Python call per batch instead of several per
        request, and one clock reading per batch for the lines' time.
        """
        span = exchange.span
        if span is not None and span.otel is not None:
            route = exchange.route_name or "-"
            status = exchange.status
            span.end(
                status,
                {"http.route": route, "http.request.method": exchange.method, "http.response.status_code": status},
            )
        self._finished.append((exchange, seconds))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush_records)

    def flush_records(self) -> None:
        """Record the queued finished exchanges (metrics, access log) now."""
        self._flush_scheduled = False
        finished = self._finished
        if not finished:
            return
        self._finished = []
        try:
            self.metrics.observe_exchanges(finished)
            log = self.access_log
            if log is not None:
                log.exchanges(finished, time.time())
        except Exception:  # telemetry must never break the gateway
            self.log.exception("recording requests failed")
