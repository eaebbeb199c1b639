"""The content client: Strapi-style reads of the content hub, cached, and invalidated by content events.

::

    content = ContentClient(token=os.environ.get("CONTENT_TOKEN"))
    service.add_component(content)
    ...
    blurb = await content.localized("product-blurbs", filters={"productId": {"$eq": "p-espresso"}},
                                    locale="fr", fallbacks=("en",))

It speaks Strapi v5's REST API, so it reads a real Strapi as well as the Baton hub. Calls go through the
platform's resilient :class:`~baton.client.ServiceClient` (discovery, retries, breaker) to the service named
``target`` (or a fixed ``base_url``). Answers are cached per canonical query (:mod:`baton.content.cache`); when
the instance has a bus, the client subscribes to the content events (``shop.content.>``, every replica gets
every event — invalidation is not a job to share) and drops what they touch, so a published change is read
fresh at the next call, within milliseconds of the publish.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from baton.client import ServiceClient
from baton.content import qs
from baton.content.cache import CachePolicy, ContentCache, tags_of
from baton.content.events import DEFAULT_PREFIX, subject_pattern
from baton.content.locales import match_locales
from baton.content.settings import ContentReaderSettings
from baton.discovery import NatsKvRegistry, Registry
from baton.errors import CallError, ConfigError, NoInstances, UpstreamRejected
from baton.kit.clients import policies_from_env, static_registry_from_env
from baton.kit.component import InstanceContext
from baton.telemetry.logging import get_logger

__all__ = ["ContentClient", "plural_of"]

_log = get_logger("baton.content.client")


def plural_of(model: str) -> str:
    """Strapi's default plural of a singular API id (``product-blurb`` → ``product-blurbs``)."""
    if model.endswith("y") and not model.endswith(("ay", "ey", "oy", "uy")):
        return model[:-1] + "ies"
    if model.endswith(("s", "x", "ch", "sh")):
        return model + "es"
    return model + "s"


def _deep(filters: Any, depth: int = 0) -> bool:
    """Whether a filter tree reaches through a relation (a field key nested under a field key)."""
    if not isinstance(filters, Mapping):
        return isinstance(filters, list) and any(_deep(item, depth) for item in filters)
    for key, value in filters.items():
        if key.startswith("$"):
            if _deep(value, depth):
                return True
        elif depth >= 1 or _deep(value, depth + 1):
            return True
    return False


class ContentClient:
    """A :class:`~baton.kit.component.Component` reading the content hub through a cache."""

    name = "content"

    LOCALES_TTL = 60.0
    """Seconds the hub's locale list is kept (see :meth:`locales`)."""

    def __init__(
        self,
        *,
        target: str = "content",
        base_url: str | None = None,
        http: ServiceClient | None = None,
        token: str | None = None,
        policy: CachePolicy | None = None,
        prefix: str = DEFAULT_PREFIX,
        plurals: Mapping[str, str] | None = None,
        timeout: float | None = None,
        optional: bool = False,
    ) -> None:
        """Args:
        target: the hub's service name (found through discovery or ``BATON_SERVICE_URLS``).
        base_url: a fixed hub address instead (scripts, tests, a real Strapi).
        http: a ready client to use instead of either.
        token: a Strapi API token (read-only is enough), sent as ``Authorization: Bearer``.
        policy: how answers are cached (default :class:`CachePolicy`).
        prefix: ``<system>.<context>`` of the content events to listen to.
        plurals: plural API ids of models whose plural is irregular (``{"person": "people"}``).
        timeout: seconds one read may take, retries included (``None``: the resilience policy's deadline). A
            page that can live without its content should set it short.
        optional: start even when the hub cannot be found (no ``base_url``, no ``BATON_SERVICE_URLS``, no
            NATS): reads then fail with :class:`~baton.errors.NoInstances`, like reads of a hub that is down.
        """
        self.target = target
        self.base_url = base_url
        self.http = http
        self._own_http = http is None
        self.token = token
        self.cache = ContentCache(policy or CachePolicy())
        self.prefix = prefix
        self.plurals = dict(plurals or {})
        self.timeout = timeout
        self.optional = optional
        self._subscription: Any = None
        self._nats: Any = None
        self._reconnects = 0
        self._locales: tuple[tuple[str, ...] | None, float] | None = None
        self.calls = 0
        """Requests sent to the hub (misses and revalidations)."""

    @classmethod
    def for_reader(cls, settings: ContentReaderSettings, *, target: str = "content") -> ContentClient:
        """A client for a service that can live without the hub: token, timeout and cache TTL from ``settings``,
        and ``optional`` (started alone, the service reads nothing and goes without).
        """
        token = settings.content_token.get_secret_value() if settings.content_token else None
        return cls(
            target=target,
            token=token,
            timeout=settings.content_timeout,
            policy=CachePolicy(ttl=settings.content_cache_ttl),
            optional=True,
        )

    # -- lifecycle ------------------------------------------------------------------------------------

    async def start(self, ctx: InstanceContext) -> None:
        """Build the HTTP client (unless given) and subscribe to content events when there is a bus.

        Raises:
            ConfigError: the hub cannot be found and the client is not ``optional``.
        """
        if self.http is None:
            self.http = self._client(ctx)
        if ctx.nats is not None:
            self._nats = ctx.nats
            self._reconnects = int(ctx.nats.stats.get("reconnects", 0))
            self._subscription = await ctx.nats.subscribe(subject_pattern(self.prefix), cb=self._on_message)

    def _client(self, ctx: InstanceContext) -> ServiceClient | None:
        # The system's resilience policies (BATON_POLICIES) bind to the hub's name like to any other peer's.
        policies = policies_from_env(os.environ)
        if self.base_url is not None:
            return ServiceClient(self.target, base_url=self.base_url, policies=policies)
        registry: Registry | None = static_registry_from_env(os.environ)
        if registry is None and ctx.nats is not None:
            registry = NatsKvRegistry(ctx.nats)
        if registry is None:
            if self.optional:
                _log.warning("content hub not configured; content reads will fail over", target=self.target)
                return None
            raise ConfigError(
                f"no way to find {self.target!r}: pass base_url, set BATON_SERVICE_URLS or BATON_NATS_URL"
            )
        return ServiceClient(self.target, registry=registry, policies=policies)

    async def check(self) -> None:
        """Always ready: a hub that is down is reported by the calls (and stale answers may still serve)."""

    async def drain(self) -> None:
        """Stop listening to events."""
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def stop(self) -> None:
        """Stop listening and close the HTTP client if it is ours."""
        await self.drain()
        if self.http is not None and self._own_http:
            await self.http.aclose()
            self.http = None

    # -- invalidation ---------------------------------------------------------------------------------

    async def _on_message(self, msg: Any) -> None:
        try:
            event = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return
        data = event.get("data") if isinstance(event, dict) else None
        if isinstance(data, dict):
            self.invalidate_event(data)

    def invalidate_event(self, data: Mapping[str, Any]) -> int:
        """Drop the answers a content event's ``data`` touches; how many were dropped."""
        tags = {"deep"}
        model = data.get("model")
        if isinstance(model, str):
            tags |= {f"api:{model}", f"api:{self.plurals.get(model, plural_of(model))}"}
        document_id = data.get("documentId")
        if isinstance(document_id, str):
            tags.add(f"doc:{document_id}")
        if str(data.get("event", "")).startswith("media."):
            media = data.get("media") or {}
            tags.add(f"doc:{media.get('documentId')}")
        return self.cache.invalidate(tags)

    def _check_reconnect(self) -> None:
        if self._nats is None:
            return
        reconnects = int(self._nats.stats.get("reconnects", 0))
        if reconnects != self._reconnects:
            # Events published while we were away are lost to a plain subscription: trust nothing cached.
            self._reconnects = reconnects
            self.cache.clear()

    # -- reads ----------------------------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, Any] | None = None, *, api_id: str) -> Any:
        """The JSON answer of ``GET <path>`` with Strapi query ``params`` (nested), through the cache.

        Raises:
            UpstreamRejected: the hub answered 4xx (404 included).
            CallError: the hub cannot be reached (or, ``optional``, was never found) and nothing usable is cached.
        """
        pairs = qs.encode(params or {})
        key = path + "?" + "&".join(f"{k}={v}" for k, v in pairs)
        self._check_reconnect()
        cached = self.cache.lookup(key)
        if cached is not None and self.cache.is_fresh(cached):
            self.cache.hits += 1
            return cached.body
        self.cache.misses += 1
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if cached is not None and cached.etag and self.cache.policy.revalidate:
            headers["If-None-Match"] = cached.etag
        if self.http is None:
            if self.optional:
                raise NoInstances(f"the content hub {self.target!r} is not configured for this instance")
            raise ConfigError("ContentClient used before the instance started")
        options: dict[str, Any] = {} if self.timeout is None else {"timeout": self.timeout}
        try:
            self.calls += 1
            response = await self.http.get(path, params=dict(pairs), headers=headers, raise_for_status=False, **options)
        except CallError:
            if cached is not None and self.cache.is_usable_stale(cached):
                _log.warning("content hub unreachable; serving a stale answer", path=path)
                return cached.body
            raise
        if response.status == 304 and cached is not None:
            self.cache.touch(cached)
            return cached.body
        if response.status >= 400:
            response.raise_for_status()
        body = response.json()
        deep = _deep((params or {}).get("filters")) or bool((params or {}).get("populate"))
        tags = tags_of(api_id, body) | ({"deep"} if deep else frozenset())
        self.cache.store(key, body, etag=response.headers.get("ETag"), tags=tags)
        return body

    async def find(self, api_id: str, **params: Any) -> dict[str, Any]:
        """``GET /api/<api_id>`` with Strapi parameters (``filters=``, ``populate=``, ``locale=``...)."""
        body: dict[str, Any] = await self.get(f"/api/{api_id}", params, api_id=api_id)
        return body

    async def find_one(self, api_id: str, document_id: str, **params: Any) -> dict[str, Any] | None:
        """``GET /api/<api_id>/<documentId>``'s ``data``, or ``None`` when there is no such document."""
        try:
            body = await self.get(f"/api/{api_id}/{document_id}", params, api_id=api_id)
        except UpstreamRejected as exc:
            if exc.context.get("status") == 404:
                return None
            raise
        data: dict[str, Any] | None = body.get("data")
        return data

    async def locales(self) -> tuple[str, ...] | None:
        """The hub's locale codes (Strapi's ``GET /api/i18n/locales``); ``None`` when it has no i18n.

        Kept for :attr:`LOCALES_TTL` whatever the cache policy: they are the hub's configuration, not content,
        so even a client that caches nothing pays for them once a minute, not once a read.

        Raises:
            CallError: the hub cannot be reached and nothing usable is cached.
        """
        now = time.monotonic()
        if self._locales is not None and now - self._locales[1] < self.LOCALES_TTL:
            return self._locales[0]
        codes: tuple[str, ...] | None = None
        try:
            body = await self.get("/api/i18n/locales", api_id="i18n-locales")
        except UpstreamRejected:
            body = None  # a Strapi without the i18n plugin, or a token not allowed to list locales
        if isinstance(body, list):
            codes = tuple(str(item["code"]) for item in body if isinstance(item, Mapping) and item.get("code"))
        self._locales = (codes, now)
        return codes

    async def localized(
        self,
        api_id: str,
        *,
        filters: Mapping[str, Any],
        locale: str | None,
        fallbacks: Sequence[str] = (),
        **params: Any,
    ) -> dict[str, Any] | None:
        """The first entry matching ``filters`` in ``locale``, else in each of ``fallbacks`` in turn; ``None`` if none.

        This is how a product page gets its blurb in the shopper's language, or in English when it has no translation.
        Locales are matched against the hub's (:meth:`locales`): a regional tag the hub lacks reads its language
        (``fr-CH`` → ``fr``) and a locale it does not know at all is skipped, never sent (Strapi refuses it with 400).
        With neither ``locale`` nor ``fallbacks``, the hub's default locale is read.

        Raises:
            CallError: the hub cannot be reached and nothing usable is cached.
        """
        wanted: list[str] = [locale, *fallbacks] if locale else [*fallbacks]
        known = await self.locales() if wanted else None
        candidates: list[str | None] = list(match_locales(wanted, known) if known is not None else wanted)
        if not locale:
            candidates.append(None)
        for candidate in dict.fromkeys(candidates):
            query = {**params, "filters": filters, "pagination": {"pageSize": 1}}
            if candidate is not None:
                query["locale"] = candidate
            data = (await self.find(api_id, **query)).get("data") or []
            if data:
                entry: dict[str, Any] = data[0]
                return entry
        return None
