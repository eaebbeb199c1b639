"""Refresh tokens in rotation families, and the failed-login limit.

A refresh token is 256 random bits handed to the user once; identity keeps only its SHA-256. Each use rotates
it: the token is marked used and a new one of the same *family* (one login) is issued. A used token presented
again means it was copied (a thief or the user raced the other): the whole family is revoked, so neither the
thief's nor the user's newer token works any more (OAuth 2.0 Security BCP, RFC 9700 §4.14.2). Logging out
revokes the family too.

Failed logins are counted per account (the SHA-256 of the normalised e-mail, whether or not the account exists)
and per client address over a sliding window; at the limit, logins are refused with 429 before the password is
even checked, so the right password does not get in either until the window has moved on.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.identity.models import login_failures, refresh_tokens
from baton.errors import SecurityError

__all__ = [
    "Lockout",
    "Rotation",
    "clear_failures",
    "forget_failures",
    "issue_refresh",
    "lockout",
    "record_failure",
    "revoke",
    "revoke_family",
    "rotate_refresh",
]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class InvalidRefreshToken(SecurityError):
    """The refresh token is unknown, expired, revoked or was used before (one message for every case)."""

    title = "Invalid refresh token"


def _invalid() -> InvalidRefreshToken:
    return InvalidRefreshToken("the refresh token is invalid, expired or revoked; log in again")


async def issue_refresh(
    session: AsyncSession, *, user_id: str, ttl: float, family_id: str | None = None, expires_at: float | None = None
) -> str:
    """A new refresh token for ``user_id`` (a new family unless ``family_id`` is given)."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    await session.execute(
        refresh_tokens.insert().values(
            token_hash=_digest(token),
            family_id=family_id or uuid.uuid4().hex,
            user_id=user_id,
            created_at=now,
            expires_at=expires_at if expires_at is not None else now + ttl,
            used_at=None,
            revoked_at=None,
        )
    )
    return token


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of presenting a refresh token."""

    user_id: str | None
    """The user, when the token was good."""
    token: str | None
    """The new refresh token, when the token was good."""
    replayed: bool = False
    """The token had been used before: its family is now revoked (commit, then refuse)."""


async def rotate_refresh(session: AsyncSession, token: str, *, ttl: float) -> Rotation:
    """Use ``token``: mark it used and issue its successor, or detect a replay and revoke the family.

    The new token keeps the family's expiry (a family lives ``ttl`` seconds from its login, however often it
    rotates). The caller commits in both cases and refuses when ``user_id`` is ``None``.
    """
    now = time.time()
    digest = _digest(token)
    row = (await session.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == digest))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return Rotation(None, None)
    # Conditional update: of two requests racing with the same token exactly one marks it used.
    marked = await session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.token_hash == digest, refresh_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(marked, "rowcount", 0) != 1:
        await revoke_family(session, row.family_id)
        return Rotation(None, None, replayed=True)
    fresh = await issue_refresh(
        session, user_id=row.user_id, ttl=ttl, family_id=row.family_id, expires_at=row.expires_at
    )
    return Rotation(row.user_id, fresh)


async def revoke_family(session: AsyncSession, family_id: str) -> None:
    """Revoke every token of a family (logout, replay)."""
    await session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=time.time())
    )


async def revoke(session: AsyncSession, token: str) -> bool:
    """Revoke the family of ``token`` (logout); ``False`` when the token is unknown."""
    row = (
        await session.execute(select(refresh_tokens.c.family_id).where(refresh_tokens.c.token_hash == _digest(token)))
    ).first()
    if row is None:
        return False
    await revoke_family(session, row.family_id)
    return True


# -- failed logins ----------------------------------------------------------------------------------


def account_subject(email: str) -> str:
    """The failure-counter key of an account (no e-mail in clear)."""
    return "account:" + hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def address_subject(address: str) -> str:
    """The failure-counter key of a client address."""
    return f"ip:{address}"


@dataclass(frozen=True, slots=True)
class Lockout:
    """Logins are refused for ``retry_after`` more seconds."""

    retry_after: int


async def lockout(
    session: AsyncSession, limits: list[tuple[str, int]], *, window: float, now: float | None = None
) -> Lockout | None:
    """Whether any ``(subject, max_failures)`` reached its limit within the last ``window`` seconds."""
    now = time.time() if now is None else now
    since = now - window
    longest = 0.0
    for subject, limit in limits:
        recent = (
            (
                await session.execute(
                    select(login_failures.c.at)
                    .where(login_failures.c.subject == subject, login_failures.c.at > since)
                    .order_by(login_failures.c.at.desc())
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        if len(recent) >= limit:
            # Locked until the limit-th most recent failure leaves the window.
            longest = max(longest, recent[-1] + window - now)
    return Lockout(retry_after=max(1, int(longest + 0.999))) if longest > 0 else None


async def record_failure(session: AsyncSession, subjects: list[str], *, window: float) -> list[str]:
    """Count a failed login against each of ``subjects`` (and forget failures older than the window).

    Returns:
        The ids of the rows written, for :func:`forget_failures` when the attempt turns out to succeed.
    """
    now = time.time()
    await session.execute(delete(login_failures).where(login_failures.c.at <= now - window))
    ids = []
    for subject in subjects:
        ids.append(uuid.uuid4().hex)
        await session.execute(login_failures.insert().values(id=ids[-1], subject=subject, at=now))
    return ids


async def forget_failures(session: AsyncSession, ids: list[str]) -> None:
    """Remove the failures :func:`record_failure` wrote for an attempt that succeeded."""
    await session.execute(delete(login_failures).where(login_failures.c.id.in_(ids)))


async def clear_failures(session: AsyncSession, subject: str) -> None:
    """Forget an account's failures after a successful login."""
    await session.execute(delete(login_failures).where(login_failures.c.subject == subject))


async def failures(session: AsyncSession, subject: str) -> int:
    """How many failures ``subject`` has on record (tests)."""
    return int((await session.execute(select(func.count()).where(login_failures.c.subject == subject))).scalar_one())
