"""User tokens: HS256 JWTs signed with ``IDENTITY_JWT_SECRET``, as a component that refuses to start without it.

The secret is injected by the control plane (``baton secret set identity/IDENTITY_JWT_SECRET ...``). Starting
without one is refused unless ``IDENTITY_DEV_MODE=true``, which generates a throwaway key: a forgotten secret
must not silently turn into a key nobody else (the gateway) knows.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any

import jwt

from apps.shop.identity.settings import IdentitySettings
from baton.errors import ConfigError, SecurityError
from baton.kit.component import InstanceContext

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
LEEWAY_SECONDS = 30


class TokenSigner:
    """A :class:`~baton.kit.component.Component` that issues and verifies user tokens."""

    name = "tokens"

    def __init__(self, settings: IdentitySettings | None = None) -> None:
        """``settings`` default to the identity service's (read when the instance starts)."""
        self._given = settings
        self._key: bytes | None = None
        self.issuer = ""
        self.audience = ""
        self.ttl = 0

    async def start(self, ctx: InstanceContext) -> None:
        """Load the signing key.

        Raises:
            ConfigError: no ``IDENTITY_JWT_SECRET`` (and not in dev mode), or one shorter than 32 bytes.
        """
        settings = self._given
        if settings is None:
            from apps.shop.identity.service import service

            settings = service.settings
        assert settings is not None
        self.load(settings)

    def load(self, settings: IdentitySettings) -> None:
        """Take the key and claims from ``settings`` (see :meth:`start` for what is refused)."""
        if settings.jwt_secret is not None:
            key = settings.jwt_secret.get_secret_value().encode("utf-8")
            if len(key) < MIN_SECRET_BYTES:
                raise ConfigError(f"IDENTITY_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes for HS256")
        elif settings.dev_mode:
            key = secrets.token_bytes(MIN_SECRET_BYTES)
            log.warning("identity: IDENTITY_DEV_MODE=true, signing with a generated key (tokens die with it)")
        else:
            raise ConfigError(
                "IDENTITY_JWT_SECRET is not set: store it with `baton secret set identity/IDENTITY_JWT_SECRET ...` "
                "(or set IDENTITY_DEV_MODE=true to sign with a throwaway key)"
            )
        self._key = key
        self.issuer, self.audience, self.ttl = settings.issuer, settings.audience, settings.token_ttl

    def issue(self, *, subject: str, email: str, roles: Sequence[str], now: float | None = None) -> str:
        """A signed token for a user: claims ``sub``, ``email``, ``roles``, ``iss``, ``aud``, ``iat``, ``exp``, ``jti``.

        Raises:
            ConfigError: the signer has no key (the instance did not start).
        """
        if self._key is None:
            raise ConfigError("the token signer has no key; the identity service is not running")
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "sub": subject,
            "email": email,
            "roles": list(roles),
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this service issued.

        Raises:
            SecurityError: bad signature, wrong algorithm/issuer/audience, expired, or a claim missing.
        """
        if self._key is None:
            raise ConfigError("the token signer has no key; the identity service is not running")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],  # fixed: a token naming another algorithm is refused
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["sub", "exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise SecurityError(f"invalid token: {exc}") from exc
        return claims

    async def check(self) -> None:
        """Ready once a key is loaded."""
        if self._key is None:
            raise ConfigError("no signing key loaded")

    async def drain(self) -> None:
        """Nothing to drain."""

    async def stop(self) -> None:
        """Forget the key."""
        self._key = None
