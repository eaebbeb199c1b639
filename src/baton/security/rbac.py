"""Who is calling and what they may do: principals, scope and role checks, ownership.

A :class:`Principal` is what authentication middleware leaves in ``request.state.principal`` (service tokens:
:class:`~baton.security.tokens.ServiceTokenAuth`; user tokens: the identity service's middleware, later).
Routes declare what they need::

    @router.post("/v1/reservations", dependencies=[Depends(require_scopes("inventory:reserve"))])
    async def reserve(...): ...

    @router.get("/v1/orders/{order_id}")
    async def get_order(order_id: str, principal: Principal = Depends(current_principal)):
        order = await store.get(order_id)
        owned_or_404(order.owner if order else None, principal, resource="order")

A foreign object answers exactly like a missing one (404, same body), so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request

from baton.errors import Forbidden, NotFound, SecurityError

PrincipalKind = Literal["user", "service"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    subject: str
    """``sub``: a user id, or the calling service's name."""
    kind: PrincipalKind = "user"
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Every verified claim, for what the fields above do not cover."""

    def has_scopes(self, *scopes: str) -> bool:
        """Whether every one of ``scopes`` was granted."""
        return set(scopes) <= self.scopes

    def has_any_role(self, *roles: str) -> bool:
        """Whether the principal holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)


def principal_from_claims(claims: Mapping[str, Any], *, kind: PrincipalKind) -> Principal:
    """A principal from verified JWT claims: scopes from ``scope`` (space-separated) or ``scp`` (list), roles
    from ``roles`` (list)."""
    scope = claims.get("scope")
    scopes = scope.split() if isinstance(scope, str) else _strings(claims.get("scp"))
    return Principal(
        subject=str(claims["sub"]),
        kind=kind,
        roles=frozenset(_strings(claims.get("roles"))),
        scopes=frozenset(scopes),
        claims=dict(claims),
    )


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller.

    Raises:
        SecurityError: no authentication middleware put a principal on the request (401).
    """
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise SecurityError("authentication required")
    return principal


def require_scopes(*scopes: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency factory: the caller must hold every one of ``scopes`` (403 otherwise)."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if not principal.has_scopes(*scopes):
            raise Forbidden(f"requires scopes: {' '.join(sorted(scopes))}")
        return principal

    return dependency


def require_roles(*roles: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency factory: the caller must hold at least one of ``roles`` (403 otherwise)."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if not principal.has_any_role(*roles):
            raise Forbidden(f"requires one of the roles: {', '.join(sorted(roles))}")
        return principal

    return dependency


def not_found(resource: str = "resource") -> NotFound:
    """The error for a missing ``resource``; :func:`owned_or_404` raises the very same one for foreign ones."""
    return NotFound(f"{resource} not found")


def owned_or_404(
    obj_owner: str | None, principal: Principal, *, resource: str = "resource", admin_role: str | None = "admin"
) -> None:
    """Pass when ``principal`` owns the object (or holds ``admin_role``); else raise the 404 of a missing one.

    Args:
        obj_owner: the object's owner subject, ``None`` when the object does not exist.

    Raises:
        NotFound: missing, or owned by someone else — indistinguishable on purpose.
    """
    if obj_owner is None:
        raise not_found(resource)
    if obj_owner == principal.subject:
        return
    if admin_role is not None and admin_role in principal.roles:
        return
    raise not_found(resource)
