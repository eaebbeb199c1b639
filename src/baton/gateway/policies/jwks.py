"""Signing keys of one token issuer: a JWKS fetched over HTTP and refreshed in the background.

The gateway fetches every issuer's JWKS at start and again every ``jwks_refresh`` seconds (a withdrawn key
stops verifying new tokens; tokens already verified stay cached until their own expiry). An unknown ``kid``
triggers an early refresh (at most every :data:`MIN_REFRESH_INTERVAL` seconds, so a flood
of tokens with made-up key ids cannot turn the gateway into a JWKS-fetching amplifier).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import jwt

from baton.errors import SecurityError

log = logging.getLogger("baton.gateway")

MIN_REFRESH_INTERVAL = 10.0
"""Seconds between two refreshes triggered by unknown key ids."""


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
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def get(self, kid: str | None) -> Any | None:
        """The key for ``kid`` (the only key when the token names none and the set holds one)."""
        if kid is None:
            return next(iter(self.keys.values())) if len(self.keys) == 1 else None
        return self.keys.get(kid)

    def due(self) -> bool:
        """Whether a scheduled refresh is due (the gateway's key watcher asks every second)."""
        return time.monotonic() - self._fetched_at >= self.refresh_interval

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the JWKS again (unless one was fetched in the last 10 s and ``force`` is false).

        Raises:
            SecurityError: the JWKS could not be fetched or parsed.
        """
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < MIN_REFRESH_INTERVAL:
                return
            self._fetched_at = time.monotonic()
            self.fetches += 1
            try:
                timeout = aiohttp.ClientTimeout(total=self.timeout)
                async with aiohttp.ClientSession(timeout=timeout) as session, session.get(self.url) as response:
                    response.raise_for_status()
                    document = await response.json(content_type=None)
                keyset = jwt.PyJWKSet.from_dict(document)
            except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWTError) as exc:
                raise SecurityError(f"cannot load JWKS from {self.url}: {exc}") from exc
            self.keys = {key.key_id or str(i): key for i, key in enumerate(keyset.keys)}

    async def key_for(self, kid: str | None) -> Any | None:
        """The key for ``kid``, refreshing once if it is unknown."""
        key = self.get(kid)
        if key is None:
            try:
                await self.refresh()
            except SecurityError as exc:
                log.warning("%s", exc)
            key = self.get(kid)
        return key
