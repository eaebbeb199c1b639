"""Who may do what: Strapi's API tokens (read-only, full access) and the public role.

A request without ``Authorization`` acts as the *public* role, which may ``find`` and ``findOne`` the published
entries of the API ids listed in ``CONTENT_PUBLIC`` (Strapi's Users & Permissions "Public" role). A request with
``Authorization: Bearer <token>`` must carry a configured token: *read-only* tokens may read every type in either
status, *full-access* tokens may also write and publish. An unknown token is 401, a refused action 403 — both in
Strapi's error shape. Tokens are kept as SHA-256 digests and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from apps.shop.content.problems import ContentForbidden, ContentUnauthorized
from baton.errors import ConfigError

__all__ = ["DEV_TOKENS", "FULL_ACCESS", "PUBLIC", "READ_ONLY", "Access", "Tokens"]

PUBLIC = "public"
READ_ONLY = "read-only"
FULL_ACCESS = "full-access"
READS = frozenset({"find", "findOne"})

DEV_TOKENS = f"{READ_ONLY}:dev-content-read-only,{FULL_ACCESS}:dev-content-full-access"
"""The tokens of ``CONTENT_DEV_MODE`` (public knowledge, like a demo password: for a laptop, never for production)."""


@dataclass(frozen=True, slots=True)
class Access:
    """The caller's rights: its token type (or the public role) and, for the public role, the readable types."""

    kind: str
    public_types: frozenset[str] = frozenset()

    def require(self, action: str, api_id: str, *, status: str = "published") -> None:
        """Allow ``action`` (``find``, ``findOne``, ``create``, ``update``, ``delete``, ``publish``) on ``api_id``.

        Raises:
            ContentForbidden: the token type or the public role does not allow it.
        """
        if self.kind == FULL_ACCESS:
            return
        if action in READS and self.kind == READ_ONLY:
            return
        if action in READS and self.kind == PUBLIC and api_id in self.public_types and status == "published":
            return
        raise ContentForbidden()

    @property
    def is_public(self) -> bool:
        """No token: shared caches may keep what this caller reads."""
        return self.kind == PUBLIC


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Tokens:
    """The configured API tokens."""

    def __init__(self, pairs: Iterable[tuple[str, str]], *, public_types: Iterable[str]) -> None:
        """``pairs`` are ``(type, token)``.

        Raises:
            ConfigError: an unknown token type or an empty token.
        """
        self._tokens: list[tuple[bytes, str]] = []
        for kind, token in pairs:
            if kind not in (READ_ONLY, FULL_ACCESS) or not token:
                raise ConfigError(f"API token of type {kind!r}: type must be read-only or full-access, token non-empty")
            self._tokens.append((_digest(token), kind))
        self.public_types = frozenset(public_types)

    @classmethod
    def from_settings(cls, raw: str, *, public: str, dev_mode: bool = False) -> Tokens:
        """Read ``CONTENT_API_TOKENS`` (``read-only:abc,full-access:xyz``) and ``CONTENT_PUBLIC``.

        With ``dev_mode`` and no tokens configured, the :data:`DEV_TOKENS` are accepted; configured tokens always
        win (a secret set for the hub switches the dev tokens off).

        Raises:
            ConfigError: a pair is malformed.
        """
        if not raw.strip() and dev_mode:
            raw = DEV_TOKENS
        pairs = []
        for item in filter(None, (part.strip() for part in raw.split(","))):
            kind, sep, token = item.partition(":")
            if not sep:
                raise ConfigError("CONTENT_API_TOKENS holds '<type>:<token>' pairs separated by commas")
            pairs.append((kind.strip(), token.strip()))
        return cls(pairs, public_types=(p.strip() for p in public.split(",") if p.strip()))

    def identify(self, authorization: str | None) -> Access:
        """The caller's access from its ``Authorization`` header.

        Raises:
            ContentUnauthorized: a bearer token that is not configured (or another scheme).
        """
        if not authorization:
            return Access(PUBLIC, self.public_types)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ContentUnauthorized()
        digest = _digest(token.strip())
        kind = None
        for known, known_kind in self._tokens:
            # Every token is compared, so the time taken says nothing about which one nearly matched.
            if hmac.compare_digest(known, digest):
                kind = known_kind
        if kind is None:
            raise ContentUnauthorized()
        return Access(kind, self.public_types)
