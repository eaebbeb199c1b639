"""Local verification of service tokens against the issuer's cached JWKS.

What is fixed by configuration and never taken from the token: the algorithm list, the issuer (exact match,
no prefix or suffix games), the audience (exact, a single string), where keys come from. Required claims:
``iss sub aud exp iat``; the leeway for clock skew is at most 60 s; a token may not live longer than
``max_lifetime``. Headers the verifier does not understand as critical (``crit``) fail the token.

Verified tokens are cached until they expire (bounded), so a caller re-using its token for minutes costs one
signature check, not one per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from baton.errors import ConfigError, SecurityError
from baton.security.rbac import Principal, principal_from_claims
from baton.security.tokens.jwks import HttpJwksFetcher, JwksCache, JwksFetcher

log = logging.getLogger("baton.security.tokens")

SUPPORTED_ALGORITHMS = frozenset({"EdDSA"})
"""Algorithms a verifier may be configured with: asymmetric only, so a public key is never an HMAC secret."""
MAX_LEEWAY = 60.0
"""Upper bound on clock-skew leeway, in seconds."""
MAX_TOKEN_BYTES = 8192
"""Longer bearer strings are refused before any parsing."""
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat")


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token that passed every check."""

    principal: Principal
    claims: Mapping[str, Any]
    expires_at: float
    """``exp`` claim (seconds since the epoch)."""


class TokenVerifier:
    """Verifies service tokens for one audience (this service) from one issuer.

    Args:
        issuer: the exact expected ``iss``.
        jwks: the issuer's JWKS fetcher (or a ready :class:`JwksCache`); never a URL taken from a token.
        audience: this service's name, the exact expected ``aud``.
        algorithms: fixed list; only ``EdDSA`` is supported.
        leeway: clock-skew tolerance in seconds, ≤ 60.
        max_lifetime: refuse tokens whose ``exp - iat`` exceeds this (seconds).
        cache_size: verified tokens remembered until their expiry.
        min_refresh: seconds between two JWKS refreshes caused by unknown ``kid`` values.

    Raises:
        ConfigError: an unsupported algorithm or a leeway above 60 s.
    """

    def __init__(
        self,
        issuer: str,
        jwks: JwksFetcher | JwksCache,
        audience: str,
        *,
        algorithms: Iterable[str] = ("EdDSA",),
        leeway: float = 30.0,
        max_lifetime: float = 3600.0,
        cache_size: int = 10_000,
        min_refresh: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.algorithms = tuple(algorithms)
        if not self.algorithms or not set(self.algorithms) <= SUPPORTED_ALGORITHMS:
            raise ConfigError(f"token algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}")
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ConfigError(f"token leeway must be within [0, {MAX_LEEWAY:.0f}] seconds, got {leeway}")
        self.issuer, self.audience, self.leeway, self.max_lifetime = issuer, audience, leeway, max_lifetime
        self.keys = jwks if isinstance(jwks, JwksCache) else JwksCache(jwks, min_refresh=min_refresh)
        self.clock = self._clock = clock
        self._cache: dict[str, VerifiedToken] = {}
        self._cache_size = cache_size
        self._jwt = jwt.PyJWT()

    @classmethod
    def for_issuer(cls, issuer: str, audience: str, **options: Any) -> TokenVerifier:
        """A verifier fetching keys from ``<issuer>/.well-known/jwks.json`` (``ssl_context=`` for HTTPS)."""
        fetcher = HttpJwksFetcher(issuer, ssl_context=options.pop("ssl_context", None))
        return cls(issuer, fetcher, audience, **options)

    def cached(self, token: str) -> VerifiedToken | None:
        """``token``'s earlier verification when it is still valid, else ``None`` (call :meth:`verify`)."""
        verified = self._cache.get(token)
        if verified is not None and verified.expires_at + self.leeway > self._clock():
            return verified
        return None

    def still_valid(self, verified: VerifiedToken) -> bool:
        """Whether an earlier verification has not expired yet (the leeway included)."""
        return self.valid_until(verified) > self._clock()

    def valid_until(self, verified: VerifiedToken) -> float:
        """When an earlier verification stops being valid, on :attr:`clock` (its expiry plus the leeway)."""
        return verified.expires_at + self.leeway

    async def verify(self, token: str) -> VerifiedToken:
        """Check ``token`` and return who it speaks for.

        Raises:
            SecurityError: the token is invalid for any reason; the message is generic on purpose and the
                reason is in ``error.context["reason"]`` (log it, never send it to the caller).
        """
        cached = self.cached(token)
        if cached is not None:
            return cached
        now = self._clock()
        verified = await self._verify(token, now)
        self._remember(token, verified, now)
        return verified

    async def _verify(self, token: str, now: float) -> VerifiedToken:
        if len(token) > MAX_TOKEN_BYTES:
            raise _invalid("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _invalid(f"malformed header: {type(exc).__name__}") from None
        if "crit" in header:
            # We implement no JWS extension; RFC 7515 §4.1.11 says an unknown critical one fails the token.
            raise _invalid("critical header extension not understood")
        if header.get("alg") not in self.algorithms:
            raise _invalid("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= 128:
            raise _invalid("missing or malformed kid")
        key = await self.keys.get(kid)
        if key is None:
            raise _invalid("unknown kid")
        try:
            claims: dict[str, Any] = self._jwt.decode(
                token,
                key=key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                # Time claims are checked below against our clock (PyJWT only knows the system clock).
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "strict_aud": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise _invalid(type(exc).__name__) from None
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise _invalid("sub is not a non-empty string")
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat, nbf)):
            raise _invalid("exp, iat and nbf must be numbers")
        if now >= exp + self.leeway:
            raise _invalid("expired")
        if nbf > now + self.leeway or iat > now + self.leeway:
            raise _invalid("not yet valid")
        if exp - iat > self.max_lifetime:
            raise _invalid("lifetime longer than allowed")
        return VerifiedToken(principal_from_claims(claims, kind="service"), claims, float(exp))

    def _remember(self, token: str, verified: VerifiedToken, now: float) -> None:
        if len(self._cache) >= self._cache_size:
            self._cache = {t: v for t, v in self._cache.items() if v.expires_at + self.leeway > now}
            if len(self._cache) >= self._cache_size:
                # Still full of live tokens: drop the oldest half (dicts keep insertion order).
                for stale in list(self._cache)[: self._cache_size // 2 or 1]:
                    del self._cache[stale]
        self._cache[token] = verified


def _invalid(reason: str) -> SecurityError:
    log.debug("service token refused: %s", reason)
    return SecurityError("invalid or expired service token", reason=reason)
