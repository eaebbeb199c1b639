"""The identity service's HTTP API: sign up, log in (a JWT), and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response
from pydantic import BaseModel, Field

from apps.shop.identity.service import User, authenticate, create_user, get_user, service, signer
from apps.shop.identity.settings import IdentitySettings
from baton.errors import SecurityError
from baton.kit import SessionDep

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class NewUser(BaseModel):
    """Body of ``POST /v1/users``."""

    email: str = Field(pattern=_EMAIL, max_length=320)
    password: str = Field(min_length=8, max_length=256)
    name: str = Field(min_length=1, max_length=200)


class Credentials(BaseModel):
    """Body of ``POST /v1/login``."""

    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class UserOut(BaseModel):
    """A user as others may see it."""

    id: str
    email: str
    name: str
    roles: list[str]

    @classmethod
    def of(cls, user: User) -> UserOut:
        """Encode a domain user."""
        return cls(id=user.id, email=user.email, name=user.name, roles=list(user.roles))


class Token(BaseModel):
    """An OAuth 2.0-style bearer token answer (RFC 6749 §5.1)."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


def _settings() -> IdentitySettings:
    settings: IdentitySettings = service.settings
    return settings


@service.post("/v1/users", status_code=201)
@service.idempotent
async def sign_up(body: NewUser, session: SessionDep, response: Response) -> UserOut:
    """Register a user (409 when the e-mail is taken)."""
    staff = _settings().staff_emails.split(",")
    user = await create_user(session, email=body.email, password=body.password, name=body.name, staff_emails=staff)
    response.headers["Location"] = f"/v1/users/{user.id}"
    return UserOut.of(user)


@service.post("/v1/login")
async def login(body: Credentials, session: SessionDep, response: Response) -> Token:
    """Exchange credentials for a bearer token (401 when they do not match)."""
    user = await authenticate(session, email=body.email, password=body.password)
    if user is None:
        raise SecurityError("e-mail or password is wrong")
    response.headers["Cache-Control"] = "no-store"
    token = signer.issue(subject=user.id, email=user.email, roles=user.roles)
    return Token(access_token=token, expires_in=signer.ttl)


@service.get("/v1/me")
async def me(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> UserOut:
    """The user the bearer token belongs to (401 without a valid token)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise SecurityError("send Authorization: Bearer <token> from POST /v1/login")
    claims = signer.verify(token)
    user = await get_user(session, str(claims["sub"]))
    if user is None:
        raise SecurityError("the token's user no longer exists")
    return UserOut.of(user)
