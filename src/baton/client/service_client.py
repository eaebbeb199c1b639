"""``ServiceClient``: a small, familiar request API for calling another service, resilient by default."""

from __future__ import annotations

import os
import random
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import aiohttp
import orjson
from prometheus_client import CollectorRegistry

from baton.balancing import balancer_from_name
from baton.balancing.base import Balancer
from baton.balancing.outlier import OutlierDetector, OutlierPolicy
from baton.client.base import DEFAULT_OPTIONS, CallOptions, Fallback, Handler, Request, TokenProvider
from baton.client.chain import build_chain
from baton.client.instances import InstanceView
from baton.client.metrics import ClientMetrics, outcome_of
from baton.client.response import Response
from baton.client.transport import AiohttpTransport
from baton.discovery.base import Instance, Registry
from baton.discovery.static import StaticRegistry
from baton.errors import CallError, ConfigError, UpstreamRejected
from baton.resilience.config import PolicySet
from baton.resilience.policies import Policy
from baton.resilience.registry import Resilience, TargetState

if TYPE_CHECKING:
    from baton.security.wiring import InstanceSecurity

_NOT_GIVEN: Any = object()


def _instance_security() -> InstanceSecurity | None:
    """The process's mTLS identity when it has one (``BATON_TLS_DIR``); imported only then."""
    if not os.environ.get("BATON_TLS_DIR"):
        return None
    from baton.security.wiring import InstanceSecurity

    return InstanceSecurity.current()


class ServiceClient:
    """Calls one target service through discovery, balancing and the resilience layers.

    ::

        async with ServiceClient("inventory", registry=registry) as inventory:
            stock = await inventory.get_json("/v1/stock/42")
            await inventory.post("/v1/reservations", json={...}, idempotency_key=order_id)

    4xx answers raise :class:`~baton.errors.UpstreamRejected`, 5xx after retries
    :class:`~baton.errors.UpstreamUnavailable` (pass ``raise_for_status=False`` to get the response instead).
    """

    def __init__(
        self,
        target: str,
        *,
        registry: Registry | None = None,
        base_url: str | None = None,
        policies: PolicySet | Policy | None = None,
        resilience: Resilience | None = None,
        auth: TokenProvider | None = None,
        balancer: str | Balancer = "peak_ewma",
        outlier: OutlierPolicy | None = _NOT_GIVEN,
        fallback: Fallback | None = None,
        session: aiohttp.ClientSession | None = None,
        connector: aiohttp.TCPConnector | None = None,
        transport: Handler | None = None,
        pool_size: int = 100,
        metrics_registry: CollectorRegistry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Args:
        target: the service name (``"inventory"``).
        registry: where instances are found; or ``base_url`` for one fixed instance (tests, scripts).
        policies: named policies bound to targets (``policies_from_mapping``), or one :class:`Policy`.
        resilience: share per-target state (breakers...) with other clients; built from ``policies`` if None.
        auth: ``async (target) -> token`` adding ``X-Baton-Service-Token`` (a service token) to every try.
            Default, in an instance with ``BATON_TLS_DIR``: its service tokens from the control plane.
        balancer: ``round_robin``, ``least_outstanding``, ``peak_ewma`` or a Balancer instance.
        outlier: outlier ejection policy (default :class:`OutlierPolicy`); ``None`` disables ejection.
        fallback: ``async (request, error) -> Response`` used when a call fails (not on 4xx).
        session: an ``aiohttp.ClientSession`` to share (not closed by this client).
        connector: an ``aiohttp.TCPConnector`` pool shared by several clients (not closed by this client).
            Default: the client's own pool — over mutual TLS, expecting ``target``'s SPIFFE ID, in an instance
            with ``BATON_TLS_DIR`` (:class:`~baton.security.wiring.InstanceSecurity`).
        transport: the last handler instead of aiohttp (in-memory doubles in unit tests).
        pool_size: connections kept per client when it owns its session.
        metrics_registry: Prometheus registry for the client metrics (the global one by default).
        rng: random source for jitter and balancing (seed it in tests).
        """
        if registry is None:
            if base_url is None:
                raise ConfigError(f"ServiceClient({target!r}) needs a registry or a base_url")
            registry = StaticRegistry([_instance_from_url(target, base_url)])
        self.target = target
        self.registry = registry
        self.resilience = resilience or Resilience(policies)
        self.metrics = ClientMetrics.on(metrics_registry)
        self.metrics.watch(self.resilience)
        self.fallback = fallback
        self._own_session = session is None
        self._session = session
        self._pool_size = pool_size
        self._connector = connector
        self._view = InstanceView(target, registry)
        rng = rng or random.Random()
        self.balancer = balancer if not isinstance(balancer, str) else balancer_from_name(balancer, rng=rng)
        self.outliers = (
            None if outlier is None else OutlierDetector(OutlierPolicy() if outlier is _NOT_GIVEN else outlier)
        )
        self._rng = rng
        self._security = _instance_security() if session is None and transport is None else None
        if auth is None and self._security is not None:
            auth = self._security.token_provider
        self._auth = auth
        self._transport = transport
        self._send: Handler | None = None
        self._chains: dict[str, Handler] = {}
        """One chain per target key, holding only the layers its policy enables."""
        # When no route of the target has a policy of its own, every call shares one state: skip the lookup.
        self._only_state = None if self.resilience.policies.routes_of(target) else self.resilience.target(target)

    def _sender(self) -> Handler:
        if self._send is None:
            if self._transport is not None:
                self._send = self._transport
            else:
                if self._session is None:
                    shared = self._connector is not None
                    connector = self._connector or self._own_connector()
                    self._session = aiohttp.ClientSession(connector=connector, connector_owner=not shared)
                self._send = AiohttpTransport(self._session)
        return self._send

    def _own_connector(self) -> aiohttp.TCPConnector:
        if self._security is not None:
            # A context per target: the server must prove it is ``target``, whatever address discovery gave.
            return self._security.connector(self.target, limit=self._pool_size, limit_per_host=0)
        return aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)

    def _handler(self, target: TargetState) -> Handler:
        chain = self._chains.get(target.key)
        if chain is None:
            chain = self._chains[target.key] = build_chain(
                self._sender(),
                view=self._view,
                balancer=self.balancer,
                outliers=self.outliers,
                metrics=self.metrics,
                auth=self._auth,
                rng=self._rng,
                policy=target.policy,
            )
        return chain

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = _NOT_GIVEN,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        per_try_timeout: float | None = None,
        retry: bool | None = None,
        raise_for_status: bool = True,
        fallback: Fallback | None = None,
    ) -> Response:
        """Call ``method path`` on the target.

        Args:
            json: a value to send as a JSON body (``content`` for raw bytes).
            idempotency_key: sent as ``Idempotency-Key``; makes a non-idempotent method retryable.
            timeout: seconds for the whole call; per_try_timeout: seconds per try; retry: force on/off.

        Raises:
            UpstreamRejected: a 4xx answer (with ``raise_for_status``).
            UpstreamUnavailable, CallTimeout, DeadlineExceeded, CircuitOpen, BulkheadFull,
            RetryBudgetExhausted, NoInstances: the call failed (see :mod:`baton.errors`).
        """
        method = method.upper()
        send_headers = dict(headers) if headers else {}
        if json is not _NOT_GIVEN:
            content = orjson.dumps(json)
            send_headers.setdefault("Content-Type", "application/json")
        if idempotency_key is not None:
            send_headers["Idempotency-Key"] = idempotency_key
        options = DEFAULT_OPTIONS
        if timeout is not None or per_try_timeout is not None or retry is not None or fallback is not None:
            options = CallOptions(timeout, per_try_timeout, retry, raise_for_status, fallback)
        elif not raise_for_status:
            options = CallOptions(raise_for_status=False)
        call = Request(
            method,
            path,
            self._only_state or self.resilience.target(self.target, path),
            send_headers,
            params,
            content,
            options,
        )
        target = call.target
        chain = self._chains.get(target.key) or self._handler(target)
        try:
            response = await chain.handle(call)
            status = response.status
            if status >= 400 and options.raise_for_status:
                response.raise_for_status()
        except CallError as exc:
            hook = options.fallback or self.fallback
            if hook is None or isinstance(exc, UpstreamRejected):
                self.metrics.request(target.key, outcome_of(error=exc))
                raise
            self.metrics.request(target.key, "fallback")
            return await hook(call, exc)
        self.metrics.request(target.key, "success" if status < 400 else outcome_of(status))
        return response

    # The verbs return ``request``'s coroutine instead of awaiting it in one more frame of their own: they are
    # on every call's path, and awaiting them reads the same.

    def get(self, path: str, **options: Any) -> Coroutine[Any, Any, Response]:
        """``GET path`` (see :meth:`request` for options); await it."""
        return self.request("GET", path, **options)

    def head(self, path: str, **options: Any) -> Coroutine[Any, Any, Response]:
        """``HEAD path``; await it."""
        return self.request("HEAD", path, **options)

    def post(self, path: str, **options: Any) -> Coroutine[Any, Any, Response]:
        """``POST path`` (retried only with ``idempotency_key``); await it."""
        return self.request("POST", path, **options)

    def put(self, path: str, **options: Any) -> Coroutine[Any, Any, Response]:
        """``PUT path``; await it."""
        return self.request("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Coroutine[Any, Any, Response]:
        """``PATCH path`` (retried only with ``idempotency_key``); await it."""
        return self.request("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Coroutine[Any, Any, Response]:
        """``DELETE path``; await it."""
        return self.request("DELETE", path, **options)

    async def get_json(self, path: str, **options: Any) -> Any:
        """``GET path`` and return the decoded JSON body."""
        return (await self.request("GET", path, **options)).json()

    async def post_json(self, path: str, json: Any, **options: Any) -> Any:
        """``POST path`` with a JSON body and return the decoded JSON answer (``None`` for an empty body)."""
        response = await self.request("POST", path, json=json, **options)
        return response.json() if response.content else None

    async def instances(self) -> list[Instance]:
        """The target's instances as this client sees them now."""
        return list(await self._view.current())

    async def aclose(self) -> None:
        """Stop the discovery watch and close the connection pool (if this client owns it)."""
        await self._view.aclose()
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None
        self._send = None
        self._chains.clear()

    async def __aenter__(self) -> Self:
        self._sender()
        self._view.start()  # discovery answers while the caller prepares its first call
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _instance_from_url(service: str, base_url: str) -> Instance:
    parts = urlsplit(base_url)
    if not parts.hostname or not parts.port:
        raise ConfigError(f"base_url must look like http://host:port, got {base_url!r}")
    return Instance(
        service=service,
        id=f"{service}@{parts.hostname}:{parts.port}",
        host=parts.hostname,
        port=parts.port,
        scheme=parts.scheme or "http",
    )
