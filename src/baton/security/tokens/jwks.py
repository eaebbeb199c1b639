"""Where a verifier gets the issuer's public keys: a fetcher for the configured issuer, and a cache.

The cache is the one place keys enter a verifier. It fetches **only** through its fetcher, which is bound at
construction to the configured issuer's URL: key URLs inside tokens (``jku``, ``x5u``) and embedded keys
(``jwk``, ``x5c``) are never looked at. An unknown ``kid`` triggers a refresh at most once per
``min_refresh`` seconds, so a flood of made-up key ids costs the issuer one request, not one per token.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import aiohttp
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from baton.errors import SecurityError
from baton.security.tokens.keys import unb64url

JWKS_PATH = "/.well-known/jwks.json"
MAX_JWKS_BYTES = 64 * 1024
"""A JWKS larger than this is refused (a handful of keys is a few hundred bytes)."""


class JwksFetcher(Protocol):
    """``async () -> JWKS document`` of one configured issuer."""

    async def __call__(self) -> Mapping[str, Any]:
        """Fetch the JWKS.

        Raises:
            SecurityError: the document could not be fetched or is not JSON.
        """
        ...


class HttpJwksFetcher:
    """Fetches ``<issuer><JWKS_PATH>`` over HTTP(S) (``ssl``: a client context for an mTLS control plane)."""

    def __init__(self, issuer: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 5.0) -> None:
        self.url = issuer.rstrip("/") + JWKS_PATH
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __call__(self) -> Mapping[str, Any]:
        """GET the JWKS (no redirects: a redirect would fetch keys from somewhere else)."""
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(
                    self.url, allow_redirects=False, ssl=self._ssl if self._ssl is not None else True
                ) as answer,
            ):
                if answer.status != 200:
                    raise SecurityError(f"JWKS fetch from {self.url} answered HTTP {answer.status}")
                body = await answer.content.read(MAX_JWKS_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SecurityError(f"JWKS fetch from {self.url} failed: {type(exc).__name__}") from exc
        if len(body) > MAX_JWKS_BYTES:
            raise SecurityError(f"JWKS from {self.url} is larger than {MAX_JWKS_BYTES} bytes")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SecurityError(f"JWKS from {self.url} is not JSON") from exc
        if not isinstance(document, dict):
            raise SecurityError(f"JWKS from {self.url} is not an object")
        return document


class StaticJwksFetcher:
    """Returns a document from a callable (a local :class:`~baton.security.tokens.issuer.TokenIssuer`; tests)."""

    def __init__(self, source: Callable[[], Mapping[str, Any]]) -> None:
        self._source = source
        self.calls = 0

    async def __call__(self) -> Mapping[str, Any]:
        """The current document."""
        self.calls += 1
        return self._source()


class JwksCache:
    """Ed25519 public keys by ``kid``, refreshed on an unknown ``kid`` at most once per ``min_refresh`` s."""

    def __init__(
        self, fetcher: JwksFetcher, *, min_refresh: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.fetcher = fetcher
        self.min_refresh = min_refresh
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    def seed(self, document: Mapping[str, Any]) -> int:
        """Start from ``document`` (the JWKS the control plane wrote beside the instance's credentials), so tokens
        verify while the issuer cannot be reached; how many keys it held.

        A seed is not a fetch: a ``kid`` it lacks still triggers an immediate refresh from the issuer, which
        then replaces every key.
        """
        keys = parse_jwks(document)
        self._keys = {**keys, **self._keys}
        return len(keys)

    async def get(self, kid: str) -> Ed25519PublicKey | None:
        """The key for ``kid``; ``None`` when unknown even after a (rate-limited) refresh.

        Raises:
            SecurityError: a refresh was due and failed while the key is unknown.
        """
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)  # another task may have refreshed while we waited
            if key is None and self._refresh_due():
                self._fetched_at = self._clock()
                self._keys = parse_jwks(await self.fetcher())
                key = self._keys.get(kid)
        return key

    def _refresh_due(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self.min_refresh


def parse_jwks(document: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The usable keys of a JWKS: Ed25519 signing keys with a ``kid``; everything else is skipped."""
    keys: dict[str, Ed25519PublicKey] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        return keys
    for jwk in entries:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        kid, x = jwk.get("kid"), jwk.get("x")
        if not isinstance(kid, str) or not isinstance(x, str) or jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = Ed25519PublicKey.from_public_bytes(unb64url(x))
        except ValueError:
            continue
    return keys
