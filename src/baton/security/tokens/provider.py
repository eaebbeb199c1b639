"""The client side: ``ServiceTokenProvider`` hands the resilient client a token per target, cached.

``ServiceClient("inventory", auth=provider)`` calls ``await provider("inventory")`` on every try; the provider
answers from its cache until the token is ``refresh_margin`` seconds from expiry, then fetches a new one —
once, however many requests are waiting (one lock per audience).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from baton.errors import ControlError
from baton.security.tokens.issuer import DEFAULT_TTL, TokenIssuer


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A bearer token and its expiry (seconds since the epoch)."""

    token: str
    expires_at: float


class TokenSource(Protocol):
    """Where a caller's tokens come from."""

    async def issue(self, audience: str) -> IssuedToken:
        """A token for calling ``audience``.

        Raises:
            BatonError: the issuer refused or is unreachable.
        """
        ...


class LocalTokenSource:
    """Issues from a :class:`TokenIssuer` in this process (the control plane itself; tests)."""

    def __init__(self, issuer: TokenIssuer, subject: str, *, ttl: float = DEFAULT_TTL) -> None:
        self.issuer, self.subject, self.ttl = issuer, subject, ttl
        self.issued = 0

    async def issue(self, audience: str) -> IssuedToken:
        """A fresh token signed by the local issuer."""
        self.issued += 1
        expires_at = self.issuer.clock() + self.ttl
        return IssuedToken(self.issuer.issue(sub=self.subject, aud=audience, ttl=self.ttl), expires_at)


class ControlPlaneTokenSource:
    """``POST /v1/tokens`` on the control plane (see :mod:`baton.security.api`).

    Authenticated by the admin ``token`` (operators, tests) or, with ``ssl_context`` holding the caller's leaf,
    by the caller's own certificate on the control plane's mutual-TLS listener (what instances do).
    """

    def __init__(
        self,
        base_url: str,
        *,
        subject: str,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/tokens"
        self.subject = subject
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def issue(self, audience: str) -> IssuedToken:
        """A token issued by the control plane.

        Raises:
            ControlError: the control plane is unreachable or refused.
        """
        body = {"subject": self.subject, "audience": audience}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(self.url, json=body, headers=self._headers, ssl=self._ssl) as answer,
            ):
                if answer.status != 200:
                    raise ControlError(f"control plane refused a service token: HTTP {answer.status}")
                data = await answer.json()
            return IssuedToken(str(data["token"]), float(data["expires_at"]))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ControlError(f"control plane unreachable for tokens: {type(exc).__name__}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise ControlError("control plane answered a malformed token response") from exc


class ServiceTokenProvider:
    """``async (target) -> token``: a cached token per audience, renewed ``refresh_margin`` s before expiry."""

    def __init__(
        self, source: TokenSource, *, refresh_margin: float = 30.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.source = source
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._tokens: dict[str, IssuedToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, target: str) -> str | None:
        """The token to send to ``target``."""
        cached = self._tokens.get(target)
        if cached is not None and self._fresh(cached):
            return cached.token
        lock = self._locks.setdefault(target, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(target)
            if cached is None or not self._fresh(cached):
                cached = await self.source.issue(target)
                self._tokens[target] = cached
        return cached.token

    def _fresh(self, token: IssuedToken) -> bool:
        return token.expires_at - self.refresh_margin > self._clock()
