"""The identity service's HTTP API: sign up, log in, refresh, log out, who am I, and the public JWKS."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from fastapi import Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from apps.shop.identity.service import User, authenticate, create_user, get_user, service, signer
from apps.shop.identity.sessions import (
    Lockout,
    account_subject,
    address_subject,
    clear_failures,
    forget_failures,
    issue_refresh,
    lockout,
    record_failure,
    revoke,
    rotate_refresh,
)
from apps.shop.identity.settings import IdentitySettings
from baton.errors import ConfigError, SecurityError
from baton.kit import SessionDep, problem_response
from baton.kit.problems import problem_type

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class NewUser(BaseModel):
    """Body of ``POST /v1/users``. Unknown fields (``role``, ``roles``...) are refused: roles are not chosen."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=_EMAIL, max_length=320)
    password: str = Field(min_length=8, max_length=256)
    name: str = Field(min_length=1, max_length=200)


class Credentials(BaseModel):
    """Body of ``POST /v1/login``."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class RefreshBody(BaseModel):
    """Body of ``POST /v1/refresh`` and ``POST /v1/logout``."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


class UserOut(BaseModel):
    """A user as they may see themselves."""

    id: str
    email: str
    name: str
    roles: list[str]

    @classmethod
    def of(cls, user: User) -> UserOut:
        """Encode a domain user."""
        return cls(id=user.id, email=user.email, name=user.name, roles=list(user.roles))


class Token(BaseModel):
    """An OAuth 2.0-style token answer (RFC 6749 §5.1): a short-lived access token and a refresh token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


def _settings() -> IdentitySettings:
    settings: IdentitySettings = service.settings
    return settings


def _emails(text: str) -> list[str]:
    return [e for e in text.split(",") if e.strip()]


def client_address(request: Request, settings: IdentitySettings) -> str:
    """The caller's address: the peer, or the last ``X-Forwarded-For`` hop when the peer is a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    trusted = {p.strip() for p in settings.trusted_proxies.split(",") if p.strip()}
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in trusted:
        last = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer


def _tokens(user_id: str, roles: tuple[str, ...], refresh_token: str, response: Response) -> Token:
    response.headers.update(_NO_STORE)
    return Token(
        access_token=signer.issue(subject=user_id, roles=roles), expires_in=signer.ttl, refresh_token=refresh_token
    )


def _too_many(request: Request, locked: Lockout) -> Response:
    # The same answer whether or not the account exists: nothing is looked up before this.
    return problem_response(
        429,
        type=problem_type("TooManyLoginAttempts"),
        title="Too many failed logins",
        detail="too many failed logins; try again later",
        instance=request.url.path,
        headers={"Retry-After": str(locked.retry_after)},
    )


@service.post("/v1/users", status_code=201)
@service.idempotent
async def sign_up(body: NewUser, session: SessionDep, response: Response) -> UserOut:
    """Register a user (409 when the e-mail is taken). Every user is a customer; staff come from configuration."""
    settings = _settings()
    user = await create_user(
        session,
        email=body.email,
        password=body.password,
        name=body.name,
        staff_emails=_emails(settings.staff_emails),
        admin_emails=_emails(settings.admin_emails),
    )
    response.headers["Location"] = f"/v1/users/{user.id}"
    return UserOut.of(user)


@service.post("/v1/login", responses={429: {"description": "Too many failed logins (Retry-After)"}})
async def login(body: Credentials, request: Request, response: Response) -> Any:
    """Exchange credentials for tokens (401 when they do not match, 429 after too many failures)."""
    settings = _settings()
    account = account_subject(body.email)
    subjects = [account, address_subject(client_address(request, settings))]
    limits = [(subjects[0], settings.login_max_failures), (subjects[1], settings.login_max_failures_per_ip)]
    pending: list[str] = []
    refresh = ""
    # The attempt counts as a failure until the password matched: parallel guesses cannot slip past the limit.
    async with service.transaction() as session:
        locked = await lockout(session, limits, window=settings.login_window)
        if locked is None:
            pending = await record_failure(session, subjects, window=settings.login_window)
    if locked is not None:
        return _too_many(request, locked)
    async with service.transaction() as session:
        user = await authenticate(session, email=body.email, password=body.password)
        if user is not None:
            await forget_failures(session, pending)
            await clear_failures(session, account)
            refresh = await issue_refresh(session, user_id=user.id, ttl=settings.refresh_ttl)
    if user is None:
        raise SecurityError("e-mail or password is wrong")
    return _tokens(user.id, user.roles, refresh, response)


@service.post("/v1/refresh")
async def refresh(body: RefreshBody, response: Response) -> Token:
    """A new access token and a new refresh token for a refresh token, which is used up.

    Presenting a refresh token a second time revokes its whole family (every token since that login).
    """
    settings = _settings()
    # Committed before answering: a replay's revocation must stick although the answer is an error.
    async with service.transaction() as session:
        rotation = await rotate_refresh(session, body.refresh_token, ttl=settings.refresh_ttl)
        user = await get_user(session, rotation.user_id) if rotation.user_id is not None else None
    if user is None or rotation.token is None:
        raise SecurityError("the refresh token is invalid, expired or revoked; log in again")
    return _tokens(user.id, user.roles, rotation.token, response)


@service.post("/v1/logout", status_code=204)
async def logout(body: RefreshBody, session: SessionDep) -> Response:
    """Revoke the refresh token's family (204 whether or not it was known)."""
    await revoke(session, body.refresh_token)
    return Response(status_code=204)


@service.get("/v1/me")
async def me(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> UserOut:
    """The user the access token belongs to (401 without a valid token)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SecurityError("send Authorization: Bearer <access token from POST /v1/login>")
    if signer.verifier is None:
        raise ConfigError("the token signer has no keys; the identity service is not running")
    try:
        verified = await signer.verifier.verify(token.strip())
    except SecurityError:
        raise SecurityError("the access token is invalid or expired") from None
    user = await get_user(session, str(verified.claims["sub"]))
    if user is None:
        raise SecurityError("the token's user no longer exists")
    return UserOut.of(user)


@service.get("/.well-known/jwks.json")
async def jwks(response: Response) -> dict[str, Any]:
    """The public keys access tokens are signed with (next, active, previous)."""
    response.headers["Cache-Control"] = "public, max-age=60"
    return signer.jwks()
