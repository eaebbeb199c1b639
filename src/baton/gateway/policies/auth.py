"""Authentication: JWTs verified against their issuer (JWKS or shared HS256 secret) and API keys.

Verifying a signature costs ~100 µs; the gateway's budget is ~40 µs a request. So a verified token is cached
by its exact bytes until its ``exp`` (bounded LRU): the second request with the same token costs a dict
lookup. Tokens are checked with a fixed algorithm list per issuer, required ``exp``/``iss``/``aud`` and a
leeway of at most 60 s. API keys are compared by SHA-256 digest, so the config may hold digests only.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

import jwt

from baton.gateway.config import ApiKeyConfig, AuthConfig, IssuerConfig
from baton.gateway.policies.base import Principal, RequestInfo, Verdict
from baton.gateway.policies.jwks import JwksKeys
from baton.gateway.responses import Rejection

_BEARER = b"bearer "


def unauthorized(detail: str, *, error: str | None = "invalid_token") -> Rejection:
    """A 401 with a ``WWW-Authenticate: Bearer`` challenge (RFC 6750)."""
    challenge = 'Bearer realm="baton"'
    if error:
        challenge += f', error="{error}", error_description="{detail}"'
    return Rejection(
        status=401, title="Unauthorized", detail=detail, headers=((b"www-authenticate", challenge.encode()),)
    )


def principal_from_claims(claims: Mapping[str, Any], issuer: str) -> Principal:
    """The caller described by verified claims (``sub``; scopes from ``scope``/``scp``; ``roles``)."""
    raw_scopes = claims.get("scope", claims.get("scp", ()))
    scopes = raw_scopes.split() if isinstance(raw_scopes, str) else list(raw_scopes or ())
    raw_roles = claims.get("roles", claims.get("role", ()))
    roles = [raw_roles] if isinstance(raw_roles, str) else list(raw_roles or ())
    consumer = str(claims.get("sub") or claims.get("client_id") or claims.get("azp") or "unknown")
    expires = claims.get("exp")
    return Principal(
        consumer=consumer,
        scopes=frozenset(map(str, scopes)),
        roles=frozenset(map(str, roles)),
        issuer=issuer,
        expires=float(expires) if isinstance(expires, int | float) else None,
        claims=dict(claims),
    )


class TokenCache:
    """Verified tokens → principals, until each token's expiry; least recently used dropped first."""

    __slots__ = ("_entries", "max_size")

    def __init__(self, max_size: int = 10_000) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[bytes, Principal] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: bytes, now: float) -> Principal | None:
        """The cached principal for ``token`` if it has not expired."""
        principal = self._entries.get(token)
        if principal is None:
            return None
        if principal.expires is not None and principal.expires <= now:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: bytes, principal: Principal) -> None:
        """Remember a verified token."""
        self._entries[token] = principal
        if len(self._entries) > self.max_size:
            self._entries.popitem(last=False)


class Authenticator:
    """The gateway's identities: issuers (with their keys), API keys and the verified-token cache."""

    def __init__(
        self,
        issuers: Iterable[IssuerConfig] = (),
        api_keys: Iterable[ApiKeyConfig] = (),
        *,
        api_key_header: str = "x-api-key",
        cache_size: int = 10_000,
        jwks: Mapping[str, JwksKeys] | None = None,
    ) -> None:
        self.issuers = {i.issuer: i for i in issuers}
        self.jwks: dict[str, JwksKeys] = dict(jwks or {})
        for issuer in self.issuers.values():
            if issuer.jwks_url and issuer.jwks_url not in self.jwks:
                self.jwks[issuer.jwks_url] = JwksKeys(issuer.jwks_url, refresh_interval=issuer.jwks_refresh)
        self.api_keys = {k.digest(): Principal(consumer=k.consumer, scopes=k.scopes, roles=k.roles) for k in api_keys}
        self.api_key_header = api_key_header.lower().encode()
        self.cache = TokenCache(cache_size)

    def api_key(self, presented: bytes) -> Principal | None:
        """The consumer owning ``presented``, if it is a known key."""
        return self.api_keys.get(hashlib.sha256(presented.strip()).hexdigest())

    def verify(self, token: bytes, allowed: frozenset[str]) -> Principal | Rejection | Awaitable[Principal | Rejection]:
        """Verify ``token`` (cache miss path); awaitable only when the issuer's JWKS must be fetched first."""
        try:
            text = token.decode("ascii")
            header = jwt.get_unverified_header(text)
            unverified = jwt.decode(text, options={"verify_signature": False})
        except (UnicodeDecodeError, jwt.PyJWTError):
            return unauthorized("malformed token")
        issuer = self.issuers.get(str(unverified.get("iss", "")))
        if issuer is None or (allowed and issuer.name not in allowed):
            return unauthorized("token issuer not accepted here")
        if issuer.jwks_url is None:
            return self._decode(token, text, issuer, issuer.shared_secret())
        keys = self.jwks[issuer.jwks_url]
        kid = header.get("kid")
        key = keys.get(kid)
        if key is not None:
            return self._decode(token, text, issuer, key)
        return self._verify_after_refresh(token, text, issuer, keys, kid)

    async def _verify_after_refresh(
        self, token: bytes, text: str, issuer: IssuerConfig, keys: JwksKeys, kid: str | None
    ) -> Principal | Rejection:
        key = await keys.key_for(kid)
        if key is None:
            return unauthorized("token signed with an unknown key")
        return self._decode(token, text, issuer, key)

    def _decode(self, token: bytes, text: str, issuer: IssuerConfig, key: Any) -> Principal | Rejection:
        try:
            claims = jwt.decode(
                text,
                key,
                algorithms=list(issuer.allowed_algorithms()),
                audience=list(issuer.audience),
                issuer=issuer.issuer,
                leeway=issuer.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            return unauthorized("token expired")
        except jwt.PyJWTError as exc:
            return unauthorized(f"token rejected: {exc}")
        principal = principal_from_claims(claims, issuer.name)
        if principal.expires is not None and principal.expires > time.time():
            self.cache.put(token, principal)
        return principal


class Authenticate:
    """Policy: establish the caller from a bearer token or an API key (401 when required and missing/bad)."""

    name = "auth"

    def __init__(self, authenticator: Authenticator, config: AuthConfig, *, required: bool | None = None) -> None:
        self.auth = authenticator
        self.config = config
        self.required = config.required if required is None else required
        self.issuers = frozenset(config.issuers)
        self._missing = unauthorized("credentials required", error=None)
        self._bad_key = Rejection(
            status=401,
            title="Unauthorized",
            detail="unknown API key",
            headers=((b"www-authenticate", f'ApiKey header="{authenticator.api_key_header.decode()}"'.encode()),),
        )

    def check(self, request: RequestInfo) -> Verdict | Awaitable[Verdict]:
        """Set ``request.principal`` or reject."""
        headers = request.headers
        if self.config.jwt:
            value = headers.get(b"authorization")
            if value is not None and value[:7].lower() == _BEARER:
                token = value[7:].strip()
                cache = self.auth.cache
                principal = cache._entries.get(token)  # TokenCache.get, inline for a live entry (no call)
                if principal is not None and principal.expires is not None and principal.expires <= request.now:
                    principal = cache.get(token, request.now)  # expired: the cache drops it (and answers None)
                elif principal is not None:
                    cache._entries.move_to_end(token)
                if principal is not None:
                    if self.issuers and principal.issuer not in self.issuers:
                        return unauthorized("token issuer not accepted here")
                    request.principal = principal
                    return None
                return self._settle(request, self.auth.verify(token, self.issuers))
        if self.config.api_keys:
            key = headers.get(self.auth.api_key_header)
            if key is not None:
                principal = self.auth.api_key(key)
                if principal is None:
                    return self._bad_key
                request.principal = principal
                return None
        return self._missing if self.required else None

    def _settle(
        self, request: RequestInfo, outcome: Principal | Rejection | Awaitable[Principal | Rejection]
    ) -> Verdict | Awaitable[Verdict]:
        if isinstance(outcome, Rejection):
            return outcome
        if isinstance(outcome, Principal):
            request.principal = outcome
            return None
        return self._settle_later(request, outcome)

    async def _settle_later(self, request: RequestInfo, pending: Awaitable[Principal | Rejection]) -> Verdict:
        outcome = await pending
        if isinstance(outcome, Rejection):
            return outcome
        request.principal = outcome
        return None
