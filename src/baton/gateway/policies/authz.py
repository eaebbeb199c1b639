"""Authorization: scopes (all required), roles (any of) and named consumers, per route.

Routes marked ``private`` are default deny: the caller must be authenticated *and* be granted by a rule
(``scopes``, ``roles`` or ``consumers``); a private route with no rule lets no one through.
"""

from __future__ import annotations

from baton.gateway.config import RouteConfig
from baton.gateway.policies.auth import unauthorized
from baton.gateway.policies.base import RequestInfo, Verdict
from baton.gateway.responses import Rejection


def forbidden(detail: str, *, scopes: frozenset[str] = frozenset()) -> Rejection:
    """A 403; with an ``insufficient_scope`` challenge when scopes are missing (RFC 6750 §3.1)."""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    if scopes:
        value = f'Bearer realm="baton", error="insufficient_scope", scope="{" ".join(sorted(scopes))}"'
        headers = ((b"www-authenticate", value.encode()),)
    return Rejection(status=403, title="Forbidden", detail=detail, headers=headers)


class Authorize:
    """Policy: the authenticated caller must satisfy the route's grants."""

    name = "authz"

    def __init__(self, route: RouteConfig) -> None:
        self.private = route.private
        self.scopes = route.scopes
        self.roles = route.roles
        self.consumers = route.consumers
        self._anonymous = unauthorized("credentials required", error=None)
        self._no_scope = forbidden("missing required scopes", scopes=route.scopes)
        self._no_role = forbidden("none of the required roles")
        self._denied = forbidden("this private route does not grant you access")

    @staticmethod
    def needed(route: RouteConfig) -> bool:
        """Whether ``route`` needs this policy at all."""
        return bool(route.private or route.scopes or route.roles or route.consumers)

    def check(self, request: RequestInfo) -> Verdict:
        """Allow or reject the caller."""
        principal = request.principal
        if principal is None:
            return self._anonymous
        if self.consumers and principal.consumer in self.consumers:
            return None
        if not self.scopes and not self.roles:
            # Only a consumers list (which did not name the caller), or a private route without rules.
            return self._denied if (self.private or self.consumers) else None
        if self.scopes and not self.scopes <= principal.scopes:
            return self._no_scope
        if self.roles and not self.roles & principal.roles:
            return self._no_role
        return None
