"""Password hashing with ``hashlib.scrypt`` (memory-hard, in the standard library).

The stored form names its parameters, ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, so they can be raised later
without invalidating existing hashes. Hashing costs ~50 ms and 16 MiB by design: it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

__all__ = ["ScryptPolicy", "hash_password", "verify_password"]


@dataclass(frozen=True, slots=True)
class ScryptPolicy:
    """scrypt cost parameters (defaults follow OWASP's minimum for scrypt: N=2^14, r=8, p=1)."""

    n: int = 2**14
    """CPU/memory cost (a power of two); memory used is 128 · n · r bytes (16 MiB)."""
    r: int = 8
    """Block size."""
    p: int = 1
    """Parallelism."""
    salt_bytes: int = 16
    hash_bytes: int = 32


DEFAULT_POLICY = ScryptPolicy()
_PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, *, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=length)


def hash_password_sync(password: str, *, policy: ScryptPolicy = DEFAULT_POLICY) -> str:
    """The stored form of ``password`` with a fresh random salt."""
    salt = os.urandom(policy.salt_bytes)
    digest = _derive(password, salt, n=policy.n, r=policy.r, p=policy.p, length=policy.hash_bytes)
    return f"{_PREFIX}${policy.n}${policy.r}${policy.p}${_b64(salt)}${_b64(digest)}"


def verify_password_sync(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison; malformed hashes never match)."""
    try:
        prefix, n, r, p, salt, digest = stored.split("$")
        if prefix != _PREFIX:
            return False
        expected = base64.b64decode(digest)
        actual = _derive(password, base64.b64decode(salt), n=int(n), r=int(r), p=int(p), length=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


async def hash_password(password: str, *, policy: ScryptPolicy = DEFAULT_POLICY) -> str:
    """:func:`hash_password_sync` off the event loop."""
    return await asyncio.to_thread(hash_password_sync, password, policy=policy)


async def verify_password(password: str, stored: str) -> bool:
    """:func:`verify_password_sync` off the event loop."""
    return await asyncio.to_thread(verify_password_sync, password, stored)
