"""The policy seam: one small object per step of a route's chain, built once when the config loads.

A policy looks at the request (:class:`RequestInfo`) and answers ``None`` (go on), a
:class:`~baton.gateway.responses.Rejection` (answer now) or, rarely, an awaitable of one of those (a JWKS
refresh, a Redis quota counter). :func:`run_chain` stays synchronous until a policy actually needs I/O, so the
common request costs no coroutine at all.

Chain order (Kong's plugin pipeline): IP allowlist ▸ authentication ▸ authorization ▸ rate limit ▸ quota ▸
request validation; then the proxy, response filtering and caching.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from baton.gateway.responses import Rejection

Verdict = Rejection | None
"""``None`` lets the request go on; a :class:`Rejection` answers it."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an authenticated token subject or an API-key consumer."""

    consumer: str
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    issuer: str | None = None
    """Issuer name (``None`` for API keys)."""
    expires: float | None = None
    """Unix time the credential stops being valid (tokens only)."""
    claims: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    consumer_line: bytes = field(init=False, repr=False, compare=False, hash=False)
    """``x-baton-consumer: <consumer>\r\n`` for the upstream, built once per principal (not per request)."""

    def __post_init__(self) -> None:
        # The consumer comes from a token's ``sub`` or an API key's name: a control character (CR/LF above all)
        # must not reach the upstream's request head, where it would end the header and start another.
        value = self.consumer.translate(_CONTROL_TO_QUESTION_MARK).encode("latin-1", "replace")
        object.__setattr__(self, "consumer_line", b"x-baton-consumer: " + value + b"\r\n")


_CONTROL_TO_QUESTION_MARK = {code: "?" for code in (*range(0x20), 0x7F)}


class RequestInfo:
    """What policies see of a request, and the few things they may set on it.

    The hot path's exchange is a subclass; unit tests build this class directly. Slotted: a request's
    attributes are stored and read without an instance dict (the exchange has too many for a shared-key one).
    """

    __slots__ = (
        "body",
        "client_ip",
        "content_length",
        "correlation_id",
        "has_body",
        "headers",
        "method",
        "now",
        "path",
        "principal",
        "response_headers",
        "route_name",
    )

    method: str
    path: str
    headers: dict[bytes, bytes]
    """Request headers by lower-case name (the last value wins)."""
    client_ip: str
    """The caller's address after trusted-proxy resolution."""
    route_name: str
    content_length: int | None
    has_body: bool
    """Whether the request carries a body (Content-Length > 0 or chunked)."""
    body: bytes | None
    """The whole body, when the route buffers it (validation phase only)."""
    principal: Principal | None
    response_headers: Sequence[tuple[bytes, bytes]] | None
    """Headers policies add to the eventual answer (``RateLimit-*``); treat as read-only (it may be shared)."""
    correlation_id: str
    now: float
    """Wall-clock time (unix seconds) the request arrived; one ``time.time()`` shared by every policy."""

    def __init__(
        self,
        *,
        method: str = "GET",
        path: str = "/",
        headers: dict[bytes, bytes] | None = None,
        client_ip: str = "127.0.0.1",
        route_name: str = "",
        content_length: int | None = None,
        has_body: bool = False,
        body: bytes | None = None,
        correlation_id: str = "",
        now: float | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers if headers is not None else {}
        self.client_ip = client_ip
        self.route_name = route_name
        self.content_length = content_length
        self.has_body = has_body
        self.body = body
        self.correlation_id = correlation_id
        self.now = time.time() if now is None else now
        self.principal = None
        self.response_headers = None

    @property
    def consumer(self) -> str | None:
        """The authenticated consumer's name, if any."""
        return self.principal.consumer if self.principal else None

    def add_response_headers(self, headers: Sequence[tuple[bytes, bytes]]) -> None:
        """Add headers to the answer this request will get (``headers`` is kept, never modified)."""
        if self.response_headers is None:
            self.response_headers = headers
        else:
            self.response_headers = [*self.response_headers, *headers]


@runtime_checkable
class Policy(Protocol):
    """One step of a route's request chain."""

    name: str

    def check(self, request: RequestInfo) -> Verdict | Awaitable[Verdict]:
        """``None`` to continue, a rejection to answer now, or an awaitable of either."""


def run_chain(policies: Sequence[Policy], request: RequestInfo) -> Verdict | Awaitable[Verdict]:
    """Run ``policies`` in order; synchronous until one of them returns an awaitable."""
    for index, policy in enumerate(policies, 1):
        verdict = policy.check(request)
        if verdict is not None:
            if isinstance(verdict, Rejection):
                return verdict
            return _continue(verdict, policies, index, request)
    return None


async def _continue(
    pending: Awaitable[Verdict], policies: Sequence[Policy], start: int, request: RequestInfo
) -> Verdict:
    verdict = await pending
    if verdict is not None:
        return verdict
    for policy in policies[start:]:
        result = policy.check(request)
        if result is not None and not isinstance(result, Rejection):
            result = await result
        if result is not None:
            return result
    return None
