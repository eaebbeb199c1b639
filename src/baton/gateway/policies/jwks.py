"""Signing keys of one token issuer: a JWKS fetched over HTTP and refreshed in the background.

The gateway fetches every issuer's JWKS at start and again every ``jwks_refresh`` seconds (a withdrawn key
stops verifying new tokens; tokens already verified stay cached until their own expiry). An unknown ``kid``
triggers an early refresh (at most every :data:`MIN_REFRESH_INTERVAL` seconds, so a flood
of tokens with made-up key ids cannot turn the gateway into a JWKS-fetching amplifier).

A JWKS URL may name a service instead of an address — ``baton://identity/.well-known/jwks.json`` — for an issuer
that runs inside the system, whose address is only known once it started. Such a URL is fetched by the
:class:`ServiceFetcher` the process installed with :func:`use_service_fetcher` (``python -m baton.gateway`` does,
with its discovery registry and, under the control plane, its mutual-TLS identity): an instance is looked up at
each fetch, reached over mTLS expecting that service's SPIFFE ID, with a service token for it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import jwt

from baton.errors import BatonError, SecurityError

if TYPE_CHECKING:
    from baton.discovery.base import Instance, Registry
    from baton.security.wiring import InstanceSecurity

log = logging.getLogger("baton.gateway")

MIN_REFRESH_INTERVAL = 10.0
"""Seconds between two refreshes triggered by unknown key ids."""

FIRST_LOAD_SPACING = 0.25
"""While no key set is loaded yet: seconds between two fetches asked for by tokens (each waits for the next one)."""

RETRY_CAP = 30.0
"""Longest wait between scheduled retries after failed fetches (never longer than the refresh interval)."""

SERVICE_SCHEME = "baton://"
"""JWKS URLs naming a service of the system: ``baton://<service>/<path>``."""


def split_service_url(url: str) -> tuple[str, str]:
    """``baton://identity/.well-known/jwks.json`` → ``("identity", "/.well-known/jwks.json")``."""
    service, _, path = url.removeprefix(SERVICE_SCHEME).partition("/")
    return service, "/" + path


class ServiceFetcher:
    """GETs ``baton://<service>/<path>`` documents from an instance found through discovery.

    Args:
        registry: the gateway's discovery registry (``None``: only ``static`` instances).
        security: the process's mTLS identity; ``https`` instances are reached with its client certificate
            (expecting the target's SPIFFE ID) and a service token for the target in ``X-Baton-Service-Token``.
        static: ``service → base URLs`` used when there is no registry (the gateway config's ``services``).
    """

    def __init__(
        self,
        registry: Registry | None = None,
        security: InstanceSecurity | None = None,
        *,
        static: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.registry = registry
        self.security = security
        self.static = {name: tuple(urls) for name, urls in (static or {}).items()}

    async def instances(self, service: str) -> list[Instance]:
        """The ready instances of ``service`` (discovery first, else the static list)."""
        from baton.gateway.upstreams import instance_from_url

        if self.registry is not None:
            found = await self.registry.resolve(service)
            if found:
                return found
        return [instance_from_url(service, url, i) for i, url in enumerate(self.static.get(service, ()))]

    async def get_json(self, url: str, *, timeout: float) -> Any:
        """The JSON document at ``url`` (``baton://…``), from one instance picked at random.

        Raises:
            SecurityError: no instance, no token, a refused TLS handshake, an HTTP error or a non-JSON answer.
        """
        service, path = split_service_url(url)
        try:
            instances = await self.instances(service)
        except BatonError as exc:  # discovery unreachable: the keys fetched before stay in use
            raise SecurityError(f"cannot look {service!r} up to fetch {url}: {exc}") from exc
        if not instances:
            raise SecurityError(f"no instance of {service!r} found to fetch {url}")
        instance = random.choice(instances)
        headers: dict[str, str] = {}
        context: ssl.SSLContext | bool = True
        if instance.scheme == "https":
            if self.security is None:
                raise SecurityError(f"{service!r} serves mutual TLS but this gateway holds no Baton certificate")
            context = self.security.client_context(service)
            try:
                headers = self.security.headers_for(await self.security.token_for(service))
            except BatonError as exc:  # the control plane did not issue one: a later refresh tries again
                raise SecurityError(f"no service token for {service!r} to fetch {url}: {exc}") from exc
        try:
            client_timeout = aiohttp.ClientTimeout(total=timeout)
            async with (
                aiohttp.ClientSession(timeout=client_timeout) as session,
                session.get(instance.base_url + path, headers=headers, ssl=context) as response,
            ):
                response.raise_for_status()
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SecurityError(f"cannot fetch {url} from {instance.id}: {exc}") from exc


_service_fetcher: ServiceFetcher | None = None


def use_service_fetcher(fetcher: ServiceFetcher | None) -> None:
    """Install the process's fetcher of ``baton://`` JWKS URLs (``None`` removes it)."""
    global _service_fetcher
    _service_fetcher = fetcher


class JwksKeys:
    """The current keys of one JWKS URL, by ``kid``."""

    def __init__(self, url: str, *, timeout: float = 5.0, refresh_interval: float = 300.0) -> None:
        self.url = url
        self.timeout = timeout
        self.refresh_interval = refresh_interval
        """Seconds between scheduled refreshes (:meth:`due`), which also drop keys the issuer withdrew."""
        self.fetches = 0
        """Fetch attempts so far."""
        self.keys: dict[str, Any] = {}
        self.loaded = False
        """A fetch has succeeded at least once (readiness waits for it: :meth:`Gateway._readyz`)."""
        self._fetched_at = 0.0
        self._retry_in = 0.0  # after a failed fetch: seconds until the scheduled retry (doubling), else 0
        self._lock = asyncio.Lock()

    def get(self, kid: str | None) -> Any | None:
        """The key for ``kid`` (the only key when the token names none and the set holds one)."""
        if kid is None:
            return next(iter(self.keys.values())) if len(self.keys) == 1 else None
        return self.keys.get(kid)

    def due(self) -> bool:
        """Whether a scheduled refresh is due (the gateway's key watcher asks every second)."""
        interval = min(self._retry_in, self.refresh_interval) if self._retry_in else self.refresh_interval
        return time.monotonic() - self._fetched_at >= interval

    async def refresh(self, *, force: bool = False, wait: bool = False) -> None:
        """Fetch the JWKS again (unless not ``force`` and fetched in the last 10 s).

        Callers that queued behind a fetch started after they asked take its result instead of fetching again.
        While no key set is loaded yet (the issuer was not up, or not yet in discovery, when the gateway started)
        a ``wait``-ing caller — a token with an unknown ``kid`` — waits for the next fetch, at most
        :data:`FIRST_LOAD_SPACING` after the previous one, instead of being refused for a whole spacing.

        Raises:
            SecurityError: the JWKS could not be fetched or parsed.
        """
        asked = time.monotonic()
        async with self._lock:
            if not force and self._fetched_at > asked:
                return  # a fetch began after we asked: its outcome is ours
            spacing = MIN_REFRESH_INTERVAL if self.keys else FIRST_LOAD_SPACING
            since = time.monotonic() - self._fetched_at
            if not force and since < spacing:
                if self.keys or not wait:
                    return
                # Pacing, not synchronisation: fetches for a set that never loaded stay FIRST_LOAD_SPACING apart.
                await asyncio.sleep(spacing - since)
            self._fetched_at = time.monotonic()
            self.fetches += 1
            try:
                document = await self._fetch()
                keyset = jwt.PyJWKSet.from_dict(document)
            except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWTError, SecurityError) as exc:
                # Scheduled retries come sooner than the refresh interval — 1, 2, 4 … 30 s — so an issuer that
                # was not up yet (or not yet in discovery) is picked up soon after, not minutes later.
                self._retry_in = min(max(1.0, self._retry_in * 2), RETRY_CAP)
                raise SecurityError(f"cannot load JWKS from {self.url}: {exc}") from exc
            self._retry_in = 0.0
            self.keys = {key.key_id or str(i): key for i, key in enumerate(keyset.keys)}
            self.loaded = True

    async def _fetch(self) -> Any:
        if self.url.startswith(SERVICE_SCHEME):
            if _service_fetcher is None:
                raise SecurityError("a baton:// JWKS URL needs the gateway's discovery (python -m baton.gateway)")
            return await _service_fetcher.get_json(self.url, timeout=self.timeout)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(self.url) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def key_for(self, kid: str | None) -> Any | None:
        """The key for ``kid``, refreshing once if it is unknown."""
        key = self.get(kid)
        if key is None:
            try:
                await self.refresh(wait=True)
            except SecurityError as exc:
                log.warning("%s", exc)
            key = self.get(kid)
        return key
