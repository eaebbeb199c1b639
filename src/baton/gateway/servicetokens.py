"""Service tokens for mutual-TLS upstreams: one ``X-Baton-Service-Token`` header line per target service, cached.

Under ``baton up`` every instance of a kit service requires a client certificate *and* a service token whose
audience is that service (:mod:`baton.security.wiring`); ``Authorization`` stays the end user's token. The
gateway asks its :class:`~baton.security.tokens.provider.ServiceTokenProvider` once per target, keeps the
ready-made header line, and reads it synchronously on the hot path. A token close to its expiry is still
sent while one background refresh fetches the next, so requests only wait for the very first token of a
target (or after a failed refresh let one expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import jwt

from baton.client.base import SERVICE_TOKEN_HEADER
from baton.errors import BatonError, SecurityError

log = logging.getLogger("baton.gateway")

HEADER_NAME = SERVICE_TOKEN_HEADER.lower().encode("ascii")

TokenFetch = Callable[[str], Awaitable[str | None]]
"""``async (target service) -> token`` (a :class:`~baton.security.tokens.provider.ServiceTokenProvider`)."""


class UpstreamTokens:
    """Header lines carrying a service token per target service.

    Args:
        fetch: where tokens come from (cached and renewed by the provider itself).
        refresh_margin: seconds before a token's ``exp`` at which a background refresh starts; keep it below
            the provider's own margin (30 s) so that the refresh gets a new token, not the cached one.
        expiry_margin: a token this close to its ``exp`` is no longer sent (clock skew, time in flight).
    """

    def __init__(
        self,
        fetch: TokenFetch,
        *,
        refresh_margin: float = 20.0,
        expiry_margin: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self.refresh_margin = refresh_margin
        self.expiry_margin = expiry_margin
        self._clock = clock
        self._lines: dict[str, tuple[bytes, float]] = {}
        self._refreshing: dict[str, asyncio.Task[bytes]] = {}

    def line(self, service: str) -> bytes | None:
        """The ready header line for ``service``, or ``None`` when :meth:`get` must be awaited first."""
        entry = self._lines.get(service)
        if entry is None:
            return None
        line, expires = entry
        now = self._clock()
        if expires - self.refresh_margin <= now and service not in self._refreshing:
            self._start_refresh(service)
        return line if expires - self.expiry_margin > now else None

    async def get(self, service: str) -> bytes:
        """The header line for ``service``, fetching a token if none is usable (one fetch per service at once).

        Raises:
            SecurityError: no token could be obtained.
        """
        line = self.line(service)
        if line is not None:
            return line
        task = self._refreshing.get(service) or self._start_refresh(service)
        return await asyncio.shield(task)

    def _start_refresh(self, service: str) -> asyncio.Task[bytes]:
        task = asyncio.get_running_loop().create_task(self._refresh(service), name=f"gateway-token-{service}")
        self._refreshing[service] = task
        task.add_done_callback(lambda done: self._settled(service, done))
        return task

    def _settled(self, service: str, task: asyncio.Task[bytes]) -> None:
        if self._refreshing.get(service) is task:
            del self._refreshing[service]
        if not task.cancelled() and task.exception() is not None:
            log.warning("no service token for %s: %s", service, task.exception())

    async def _refresh(self, service: str) -> bytes:
        try:
            token = await self._fetch(service)
        except BatonError as exc:
            raise SecurityError(f"cannot obtain a service token for {service}: {exc}") from exc
        if not token:
            raise SecurityError(f"no service token is issued to this gateway for {service}")
        try:
            # The provider hands out tokens only; their own ``exp`` says how long the line may be reused.
            claims = jwt.decode(token, options={"verify_signature": False})
            expires = float(claims["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            raise SecurityError(f"the service token for {service} carries no usable exp") from exc
        line = HEADER_NAME + b": " + token.encode("ascii") + b"\r\n"
        self._lines[service] = (line, expires)
        return line

    async def aclose(self) -> None:
        """Cancel refreshes under way."""
        tasks = list(self._refreshing.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
