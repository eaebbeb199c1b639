"""Identity: users with scrypt-hashed passwords, short-lived access tokens, rotating refresh tokens.

Run it with ``python -m baton.kit.serve apps.shop.identity.service:service``. Access tokens are issued by the
:class:`~apps.shop.identity.tokens.UserTokens` component, refresh tokens and the failed-login limit live in
:mod:`apps.shop.identity.sessions`; routes are in :mod:`apps.shop.identity.api`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.common.sql import insert_new
from apps.shop.identity.models import metadata, users
from apps.shop.identity.passwords import hash_password, hash_password_sync, verify_password
from apps.shop.identity.settings import IdentitySettings
from apps.shop.identity.tokens import UserTokens
from baton.errors import BatonError
from baton.kit import Service

service = Service(
    "identity",
    settings=IdentitySettings,
    metadata=metadata,
    migrations=Path(__file__).with_name("migrations"),
)
signer = UserTokens()
service.add_component(signer)


@cache
def _decoy_hash() -> str:
    # Checked when the e-mail is unknown, so a login costs the same whether or not the account exists.
    return hash_password_sync(uuid.uuid4().hex)


class EmailTaken(BatonError):
    """Raised when signing up with an e-mail that already has an account."""

    status = 409
    title = "E-mail already registered"


@dataclass(frozen=True, slots=True)
class User:
    """A shop user (never carries the password or its hash)."""

    id: str
    email: str
    name: str
    roles: tuple[str, ...]
    created_at: float


def normalise_email(email: str) -> str:
    """E-mails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def roles_for(email: str, *, staff_emails: Iterable[str], admin_emails: Iterable[str] = ()) -> tuple[str, ...]:
    """Every user is a ``customer``; listed addresses are ``staff`` (and ``admin``) too."""
    email = normalise_email(email)
    if email in {normalise_email(e) for e in admin_emails if e.strip()}:
        return ("customer", "staff", "admin")
    staff = {normalise_email(e) for e in staff_emails if e.strip()}
    return ("customer", "staff") if email in staff else ("customer",)


def _of(row: Any) -> User:
    return User(id=row.id, email=row.email, name=row.name, roles=tuple(row.roles.split(",")), created_at=row.created_at)


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str,
    staff_emails: Iterable[str] = (),
    admin_emails: Iterable[str] = (),
) -> User:
    """Register a user.

    Raises:
        EmailTaken: the e-mail has an account already.
    """
    email = normalise_email(email)
    user = User(
        id=uuid.uuid4().hex,
        email=email,
        name=name,
        roles=roles_for(email, staff_emails=staff_emails, admin_emails=admin_emails),
        created_at=time.time(),
    )
    values = {
        "id": user.id,
        "email": email,
        "name": name,
        "password_hash": await hash_password(password),
        "roles": ",".join(user.roles),
        "created_at": user.created_at,
    }
    if not await insert_new(session, users, values, unique=["email"]):
        raise EmailTaken(f"{email} is already registered; log in instead")
    return user


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User | None:
    """The user with these credentials, or ``None`` (unknown e-mail and wrong password look the same)."""
    row = (await session.execute(select(users).where(users.c.email == normalise_email(email)))).first()
    matches = await verify_password(password, row.password_hash if row is not None else _decoy_hash())
    return _of(row) if row is not None and matches else None


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    """The user with id ``user_id``, if any."""
    row = (await session.execute(select(users).where(users.c.id == user_id))).first()
    return _of(row) if row is not None else None


# Registers the HTTP routes on ``service``; last, because the routes call the operations above.
from apps.shop.identity import api  # noqa: E402, F401
