"""Per-route authorization of callers by SPIFFE ID (never by hostname or address).

The rules come from ``baton.yaml``, per service::

    services:
      inventory:
        allow:                       # route prefix → services that may call it ("*": any Baton service)
          /v1/reservations: [order]
          /v1/stock: [order, catalog]

The longest matching prefix decides; a path no rule matches is refused unless a ``default`` is given.
Health and metrics paths are exempt (the TLS handshake still requires a valid certificate for them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from baton.security.responses import send_problem
from baton.security.spiffe import ANY_SERVICE, SERVICE_PREFIX, spiffe_id
from baton.security.tokens.middleware import CONNECTION_EXTENSION, asgi_callable

DEFAULT_EXEMPT = ("/livez", "/readyz", "/metrics")
"""Paths any authenticated peer may reach (probes and scrapes)."""
_MAX_DECISIONS = 4096


@dataclass(frozen=True, slots=True)
class AccessRules:
    """Route prefix → allowed SPIFFE IDs (``"*"``: any Baton service). Build from config with :meth:`from_services`."""

    allow: Mapping[str, frozenset[str]] = field(default_factory=dict)
    default: frozenset[str] = frozenset()
    """Who may call paths no prefix matches (empty: nobody)."""

    @classmethod
    def from_services(cls, allow: Mapping[str, Collection[str]], *, default: Collection[str] = ()) -> AccessRules:
        """Rules from service names as written in ``baton.yaml`` (``{"/v1/stock": ["order"]}``).

        Raises:
            SecurityError: a name is not a valid service name.
        """
        return cls(allow={prefix: _identities(names) for prefix, names in allow.items()}, default=_identities(default))

    def allowed(self, path: str, identity: str) -> bool:
        """Whether ``identity`` may call ``path``."""
        best: str | None = None
        for prefix in self.allow:
            if _matches(path, prefix) and (best is None or len(prefix) > len(best)):
                best = prefix
        permitted = self.default if best is None else self.allow[best]
        return identity in permitted or (ANY_SERVICE in permitted and identity.startswith(SERVICE_PREFIX))


class SpiffeAuthorization:
    """ASGI middleware: 401 without a verified peer certificate, 403 when its SPIFFE ID is not allowed.

    Needs the ``tls`` scope extension (:mod:`baton.security.mtls.asgi`); without it every request is 401,
    so a listener accidentally left on plain HTTP fails closed.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allow: AccessRules | Mapping[str, Collection[str]],
        exempt: Collection[str] = DEFAULT_EXEMPT,
    ) -> None:
        self.app = app
        self.rules = allow if isinstance(allow, AccessRules) else AccessRules.from_services(allow)
        self.exempt = frozenset(exempt)
        # Decisions by (path, identity): rules are fixed for the middleware's life. Bounded, because paths
        # carry ids; when full it starts over rather than tracking recency (cheaper on the hot path).
        self._decisions: dict[tuple[str, str], bool] = {}

    @asgi_callable
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Check the caller, then pass the request on (as the inner app's own awaitable: no frame of ours)."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        path = scope["path"]
        extensions = scope.get("extensions")
        connection: dict[Any, Any] | None = None
        if extensions is not None:
            # Hot path: the path this connection was last allowed on. The memo lives in the connection's own
            # extension (one peer, one identity, for the connection's life), so it dies with the connection.
            connection = extensions.get(CONNECTION_EXTENSION)
            memo: tuple[str, str] | None = connection.get(self) if connection is not None else None
            if memo is not None and memo[0] == path:
                try:
                    scope["state"]["peer"] = memo[1]
                except KeyError:  # a server without lifespan state (uvicorn always sets it)
                    scope["state"] = {"peer": memo[1]}
                return self.app(scope, receive, send)
        if path in self.exempt:
            return self.app(scope, receive, send)
        tls = extensions.get("tls") if extensions else None
        identity = tls.get("spiffe_id") if tls else None
        if identity is None:
            return send_problem(
                scope,
                send,
                401,
                error="PeerUnauthenticated",
                title="Client certificate required",
                detail="call this service over mutual TLS with a certificate from the Baton CA",
            )
        key = (path, identity)
        allowed = self._decisions.get(key)
        if allowed is None:
            if len(self._decisions) >= _MAX_DECISIONS:
                self._decisions.clear()
            allowed = self._decisions[key] = self.rules.allowed(*key)
        if not allowed:
            return send_problem(
                scope,
                send,
                403,
                error="PeerForbidden",
                title="Caller not allowed",
                detail="this caller's identity is not in the route's allow list (baton.yaml: allow)",
            )
        if connection is not None:
            connection[self] = key
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["peer"] = identity
        return self.app(scope, receive, send)


def _identities(names: Collection[str]) -> frozenset[str]:
    return frozenset(name if name == ANY_SERVICE or name.startswith("spiffe://") else spiffe_id(name) for name in names)


def _matches(path: str, prefix: str) -> bool:
    # "/v1/stock" covers "/v1/stock" and "/v1/stock/42" but not "/v1/stockpile".
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")
