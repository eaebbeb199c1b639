"""The shop's end users in every service: verify their access tokens locally, check scopes and ownership.

Identity signs short-lived EdDSA access tokens and publishes its public keys at ``/.well-known/jwks.json``.
Each service verifies the ``Authorization: Bearer`` token itself (the gateway verifies too, but a service never
trusts that alone) against identity's JWKS, cached and refreshed only when a token names an unknown ``kid``::

    users = install(service)                      # once, in the service module

    @service.get("/v1/orders/{order_id}")
    async def get_one(order_id: str, user: CurrentUser) -> OrderOut:
        order = await get_order(...)
        owner_check(order.customer_id, user, resource="order")

    @service.put("/v1/products/{id}/price", dependencies=[Depends(require_scope("catalog:write"))])

Roles and scopes come from the token only (never from a header). The JWKS comes from, first match wins:

1. ``SHOP_USER_JWKS`` — the JWKS document itself as JSON (tests, and a service run by hand);
2. ``SHOP_USER_JWKS_URL`` — a fixed URL;
3. the ``identity`` service found through the instance's discovery (the system's case).

The token must carry ``iss`` = ``SHOP_USER_ISSUER`` (default ``https://identity.shop``) and ``aud`` =
``SHOP_USER_AUDIENCE`` (default ``shop``), exactly. Algorithms are fixed to EdDSA; ``jku``/``x5u``/``jwk`` in a
token header are never followed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends
from starlette.requests import Request

from baton.errors import ConfigError, Forbidden, SecurityError
from baton.kit.component import InstanceContext
from baton.kit.idempotency import set_caller_resolver
from baton.security.rbac import Principal, owned_or_404, principal_from_claims
from baton.security.tokens.jwks import HttpJwksFetcher, JwksFetcher, StaticJwksFetcher
from baton.security.tokens.verifier import TokenVerifier

if TYPE_CHECKING:
    from baton.kit import Service
    from baton.kit.clients import ServiceClients

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_ISSUER",
    "ROLE_SCOPES",
    "CurrentUser",
    "UserAuth",
    "current_user",
    "install",
    "is_staff",
    "owner_check",
    "require_scope",
    "scopes_for",
]

log = logging.getLogger(__name__)

DEFAULT_ISSUER = "https://identity.shop"
DEFAULT_AUDIENCE = "shop"
ACCESS_TOKEN_MAX_LIFETIME = 900.0
"""Access tokens live at most 15 minutes: a verifier refuses longer-lived ones."""

ROLE_SCOPES: Mapping[str, frozenset[str]] = {
    "customer": frozenset({"orders:read", "orders:write"}),
    "staff": frozenset({"orders:read", "catalog:write", "stock:write", "staff"}),
    "admin": frozenset({"orders:read", "catalog:write", "stock:write", "staff", "admin"}),
}
"""What each role may do; a token carries the union of its roles' scopes (identity issues them)."""


def scopes_for(roles: tuple[str, ...] | list[str]) -> list[str]:
    """The scopes a user with ``roles`` gets, sorted."""
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_SCOPES.get(role, frozenset())
    return sorted(granted)


class _DiscoveredJwks:
    """Fetches the JWKS from the ``identity`` service found through discovery (the service's own clients)."""

    def __init__(self, clients: ServiceClients) -> None:
        self._clients = clients

    async def __call__(self) -> Mapping[str, Any]:
        try:
            document = await self._clients["identity"].get_json("/.well-known/jwks.json")
        except Exception as exc:  # any failure to reach identity: the token cannot be checked now
            raise SecurityError(f"cannot fetch identity's JWKS: {type(exc).__name__}") from exc
        if not isinstance(document, dict):
            raise SecurityError("identity's JWKS is not an object")
        return document


class _Unreachable:
    """A JWKS source that is not there: every fetch fails, so every token is refused."""

    def __init__(self, why: str) -> None:
        self._why = why

    async def __call__(self) -> Mapping[str, Any]:
        raise SecurityError(f"identity's JWKS is unreachable: {self._why}")


class UserAuth:
    """A :class:`~baton.kit.component.Component` holding the user-token verifier of one service instance.

    Args:
        verifier: use this verifier (tests); otherwise one is built from the environment at start.
        environ: where ``SHOP_USER_*`` are read (default ``os.environ``).
    """

    name = "user-auth"

    def __init__(self, *, verifier: TokenVerifier | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._given = verifier
        self._environ = environ
        self._clients: ServiceClients | None = None
        self.verifier: TokenVerifier | None = verifier

    async def start(self, ctx: InstanceContext) -> None:
        """Build the verifier (see the module's docstring for where keys come from).

        Raises:
            ConfigError: ``SHOP_USER_JWKS`` is not a JSON object.
        """
        if self._given is not None:
            self.verifier = self._given
            return
        env = self._environ if self._environ is not None else os.environ
        issuer = env.get("SHOP_USER_ISSUER", DEFAULT_ISSUER)
        audience = env.get("SHOP_USER_AUDIENCE", DEFAULT_AUDIENCE)
        fetcher: JwksFetcher
        if env.get("SHOP_USER_JWKS"):
            try:
                document = json.loads(env["SHOP_USER_JWKS"])
            except ValueError as exc:
                raise ConfigError(f"SHOP_USER_JWKS is not JSON: {exc}") from exc
            if not isinstance(document, dict):
                raise ConfigError('SHOP_USER_JWKS must be a JWKS object: {"keys": [...]}')
            fetcher = StaticJwksFetcher(lambda: document)
        elif env.get("SHOP_USER_JWKS_URL"):
            url = env["SHOP_USER_JWKS_URL"]
            fetcher = HttpJwksFetcher(url.removesuffix("/.well-known/jwks.json"))
        else:
            from baton.kit.clients import ServiceClients

            clients = ServiceClients(environ=env)
            try:
                await clients.start(ctx)
            except ConfigError as exc:
                # No bus and no fixed addresses: every user token is refused (fail closed), the service runs.
                log.warning("user tokens cannot be verified: %s (set SHOP_USER_JWKS or SHOP_USER_JWKS_URL)", exc)
                fetcher = _Unreachable(str(exc))
            else:
                self._clients = clients
                fetcher = _DiscoveredJwks(clients)
        self.verifier = TokenVerifier(
            issuer, fetcher, audience, max_lifetime=ACCESS_TOKEN_MAX_LIFETIME, min_refresh=10.0
        )

    async def check(self) -> None:
        """Always ready: identity being away only fails requests whose key is not cached yet."""

    async def drain(self) -> None:
        """Nothing to drain."""

    async def stop(self) -> None:
        """Close the discovery clients, forget the verifier (unless it was given)."""
        if self._clients is not None:
            await self._clients.stop()
            self._clients = None
        self.verifier = self._given

    async def authenticate(self, authorization: str | None) -> Principal:
        """The user a ``Authorization`` header value speaks for.

        Raises:
            SecurityError: no bearer token, or an invalid one (401; the reason is only logged, at debug).
        """
        if self.verifier is None:
            raise ConfigError("user authentication is not running (the instance did not start)")
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise SecurityError("log in first: send Authorization: Bearer <access token from POST /v1/login>")
        verified = self.verifier.cached(token)
        if verified is None:
            try:
                verified = await self.verifier.verify(token)
            except SecurityError:
                raise SecurityError("the access token is invalid or expired; refresh it or log in again") from None
        return principal_from_claims(verified.claims, kind="user")


def install(service: Service, auth: UserAuth | None = None) -> UserAuth:
    """Add user authentication to ``service`` (a component; the dependencies below find it on the app)."""
    auth = auth or UserAuth()
    service.add_component(auth)
    service.app.state.shop_user_auth = auth
    set_caller_resolver(service.app, _verified_subject)  # a user's idempotency keys are theirs only
    return auth


async def _verified_subject(request: Request) -> str | None:
    """The calling user's subject for idempotency keys; ``None`` without a valid token (the route refuses it)."""
    try:
        return (await current_user(request)).subject
    except SecurityError:
        return None


async def current_user(request: Request) -> Principal:
    """FastAPI dependency: the end user calling (401 without a valid access token)."""
    cached = getattr(request.state, "shop_user", None)
    if isinstance(cached, Principal):
        return cached
    auth: UserAuth | None = getattr(request.app.state, "shop_user_auth", None)
    if auth is None:
        raise ConfigError("this service did not install user authentication (apps.shop.common.users.install)")
    user = await auth.authenticate(request.headers.get("authorization"))
    request.state.shop_user = user
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]
"""Annotate an endpoint parameter with this to get the verified user."""


def require_scope(*scopes: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency factory: the user must hold every one of ``scopes`` (401 without a token, 403 without
    the scope)."""

    async def dependency(request: Request) -> Principal:
        user = await current_user(request)
        if not user.has_scopes(*scopes):
            raise Forbidden(f"this operation needs the scope {' '.join(sorted(scopes))}")
        return user

    return dependency


def is_staff(user: Principal) -> bool:
    """Staff and admins see every customer's objects."""
    return user.has_any_role("staff", "admin")


def owner_check(owner: str | None, user: Principal, *, resource: str) -> None:
    """:func:`~baton.security.rbac.owned_or_404` where staff and admins count as owners of everything.

    Raises:
        NotFound: the object is missing or another customer's (the same 404 either way).
    """
    if owner is not None and is_staff(user):
        return
    owned_or_404(owner, user, resource=resource, admin_role=None)
