"""``ServiceTokenAuth``: the ASGI middleware that makes a service accept only verified service tokens."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

from baton.client.base import SERVICE_TOKEN_HEADER
from baton.errors import SecurityError
from baton.security.rbac import Principal
from baton.security.responses import send_problem
from baton.security.spiffe import SERVICE_PREFIX
from baton.security.tokens.verifier import TokenVerifier

DEFAULT_EXEMPT = ("/livez", "/readyz", "/metrics")
"""Paths reachable without a token (probes and scrapes)."""

TOKEN_HEADER = SERVICE_TOKEN_HEADER
"""Where service tokens travel: ``Authorization`` stays free for the end user's bearer token."""

_CHALLENGE = [(b"www-authenticate", b'Bearer error="invalid_token"')]
CONNECTION_EXTENSION = "baton.connection"
"""ASGI extension holding a dict per connection (mutual TLS listeners publish it): middleware memos that must
die with the connection, like the last verified token of :class:`ServiceTokenAuth`."""
_NO_EXTENSIONS: dict[str, Any] = {}
_F = TypeVar("_F", bound=Callable[..., Any])
_Memo = tuple[bytes, float, Principal]
"""A connection's last verified token: its raw header value, the time it stops being valid, its principal."""


def asgi_callable(function: _F) -> _F:
    """Mark a plain ``__call__`` returning an awaitable as an ASGI 3 coroutine function for servers that inspect it
    (uvicorn's interface detection): ``inspect.markcoroutinefunction`` from 3.12, asyncio's marker before."""
    mark = getattr(inspect, "markcoroutinefunction", None)
    if mark is not None:
        return mark(function)  # type: ignore[no-any-return]
    function._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]
    return function


class ServiceTokenAuth:
    """401 problem+json unless the service token in ``X-Baton-Service-Token`` verifies; principal into the scope.

    The verified :class:`~baton.security.rbac.Principal` lands in ``scope["state"]["principal"]`` (so
    ``request.state.principal`` in a route, and the :mod:`~baton.security.rbac` dependencies find it).

    Args:
        bind_to_peer: when the request came over mutual TLS, the token's subject must be the service whose
            certificate opened the connection — a token lifted from one service is useless to another.
        header: the request header holding the token, bare (``Authorization`` means ``Bearer <token>``).
        trusted_peers: SPIFFE IDs whose certificate alone suffices (the control plane, which could mint
            itself any token); their requests carry no principal.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        exempt: Collection[str] = DEFAULT_EXEMPT,
        bind_to_peer: bool = True,
        header: str = TOKEN_HEADER,
        trusted_peers: Collection[str] = (),
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.exempt = frozenset(exempt)
        self.bind_to_peer = bind_to_peer
        self.header = header.lower().encode("latin-1")
        self._bearer = self.header == b"authorization"
        self._hint = f"send a service token: {header}" + (": Bearer" if self._bearer else "")
        self.trusted_peers = frozenset(trusted_peers)
        self._clock = verifier.clock

    @asgi_callable
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Verify the service token, then pass the request on.

        Returns the awaitable to run: on the hot paths the inner app's own coroutine (no frame of ours stays on
        the stack for the request), else this middleware's check.
        """
        if scope["type"] != "http" or scope["path"] in self.exempt:
            return self.app(scope, receive, send)
        header = self.header
        raw: bytes | None = None
        for name, value in scope["headers"]:
            if name == header:
                raw = value
                break
        # Hot path over mutual TLS: the token this connection sent last, already verified and bound to its peer
        # by this middleware, is compared byte for byte (no decoding, hashing or peer lookup) and its deadline
        # (expiry plus leeway, worked out when it was verified) checked against the verifier's clock. The memo
        # lives in the connection's own extension, so it dies with the connection.
        if raw is not None:
            extensions = scope.get("extensions")
            connection = extensions.get(CONNECTION_EXTENSION) if extensions else None
            if connection is not None:
                memo: _Memo | None = connection.get(self)
                if memo is not None and memo[0] == raw and memo[1] > self._clock():
                    try:
                        scope["state"]["principal"] = memo[2]
                    except KeyError:  # a server without lifespan state (uvicorn always sets it)
                        _state(scope)["principal"] = memo[2]
                    return self.app(scope, receive, send)
        return self._check(scope, receive, send, raw)

    async def _check(self, scope: Scope, receive: Receive, send: Send, raw: bytes | None) -> None:
        token = self._token(raw)
        if token is None:
            if self.trusted_peers and _peer(scope) in self.trusted_peers:
                await self.app(scope, receive, send)
                return
            await self._refuse(scope, send, "Authentication required", self._hint)
            return
        # A token seen before is answered from the verifier's cache without a coroutine.
        verified = self.verifier.cached(token)
        try:
            if verified is None:
                verified = await self.verifier.verify(token)
        except SecurityError:
            await self._refuse(scope, send, "Invalid token", "the service token is invalid or expired; fetch a new one")
            return
        if self.bind_to_peer and not _matches_peer(scope, verified.principal.subject):
            await self._refuse(scope, send, "Invalid token", "the service token was issued to another service")
            return
        connection = scope.get("extensions", _NO_EXTENSIONS).get(CONNECTION_EXTENSION)
        if connection is not None and raw is not None:
            connection[self] = (raw, self.verifier.valid_until(verified), verified.principal)
        _state(scope)["principal"] = verified.principal
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, title: str, detail: str) -> None:
        await send_problem(scope, send, 401, error="InvalidToken", title=title, detail=detail, headers=_CHALLENGE)

    def _token(self, raw: bytes | None) -> str | None:
        if raw is None:
            return None
        if self._bearer:
            if raw[:7].lower() != b"bearer ":
                return None
            raw = raw[7:]
        return raw.strip().decode("latin-1") or None


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] | None = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    return state


def _peer(scope: Scope) -> str | None:
    tls = scope.get("extensions", {}).get("tls")
    peer: str | None = tls.get("spiffe_id") if tls else None
    return peer


def _matches_peer(scope: Scope, subject: str) -> bool:
    peer = _peer(scope)
    if peer is None:
        return True  # plain HTTP (local development, tests): nothing to bind to
    # ``peer`` came from a verified certificate; a malformed subject simply fails the comparison.
    return peer == SERVICE_PREFIX + subject
