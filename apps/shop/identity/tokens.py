"""User access tokens: short-lived EdDSA JWTs, the public keys published as a JWKS, the private keys sealed.

Access tokens carry ``iss sub aud exp iat nbf jti``, the user's ``roles`` and their ``scope``; services verify
them locally against ``/.well-known/jwks.json`` (:mod:`apps.shop.common.users`). The Ed25519 signing keys
(next, active and previous: :class:`~baton.security.tokens.TokenIssuer`) live in identity's data directory,
encrypted with AES-256-GCM (:mod:`baton.security.crypto`) under ``IDENTITY_KEYS_SECRET``, a secret the control
plane injects; a rotated secret keeps its old key listed after the new one so the file still opens.

Without the secret, starting is refused unless ``IDENTITY_DEV_MODE=true``: then the sealing key is generated
into the data directory too (``master.key``, 0600), so tokens survive a restart on a developer's machine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apps.shop.common.users import ACCESS_TOKEN_MAX_LIFETIME, scopes_for
from apps.shop.identity.settings import IdentitySettings
from baton.errors import ConfigError
from baton.kit.component import InstanceContext
from baton.security.crypto import Keyring, load_keyring
from baton.security.tokens.issuer import TokenIssuer
from baton.security.tokens.jwks import StaticJwksFetcher
from baton.security.tokens.verifier import TokenVerifier

log = logging.getLogger(__name__)

KEYS_DIR = "identity-keys"
"""Under ``<home>/data``: the sealed signing keys (and, in dev mode only, the key sealing them)."""


def keyring_from(settings: IdentitySettings, directory: Path) -> Keyring:
    """The keyring sealing the signing keys: the secret, or in dev mode a key file in ``directory``.

    Raises:
        ConfigError: neither the secret nor dev mode, or a secret that is not base64 of 32 bytes.
    """
    if settings.keys_secret is not None:
        keyring, _ = load_keyring(directory, environ={"BATON_MASTER_KEY": settings.keys_secret.get_secret_value()})
        return keyring
    if settings.dev_mode:
        log.warning("identity: IDENTITY_DEV_MODE=true, the key sealing the signing keys is kept beside them")
        keyring, _ = load_keyring(directory, environ={})
        return keyring
    raise ConfigError(
        'IDENTITY_KEYS_SECRET is not set: generate one with `python -c "import os,base64;'
        'print(base64.b64encode(os.urandom(32)).decode())"` and store it with '
        "`baton secret set identity/IDENTITY_KEYS_SECRET ...` (or set IDENTITY_DEV_MODE=true on a developer machine)"
    )


class UserTokens:
    """A :class:`~baton.kit.component.Component` that issues access tokens and verifies them (``/v1/me``)."""

    name = "tokens"

    def __init__(self, settings: IdentitySettings | None = None) -> None:
        """``settings`` default to the identity service's (read when the instance starts)."""
        self._given = settings
        self.issuer: TokenIssuer | None = None
        self.verifier: TokenVerifier | None = None
        self.audience = ""
        self.ttl = 0

    async def start(self, ctx: InstanceContext) -> None:
        """Open (or create) the sealed signing keys in ``<home>/data/identity-keys``.

        Raises:
            ConfigError: no ``IDENTITY_KEYS_SECRET`` and not in dev mode.
            SecretError: the keys file cannot be opened with the secret (wrong or rotated-away key).
        """
        settings = self._given
        if settings is None:
            from apps.shop.identity.service import service

            settings = service.settings
        assert settings is not None
        self.load(settings, ctx.settings.home / "data" / KEYS_DIR)

    def load(self, settings: IdentitySettings, directory: Path) -> None:
        """Take the keys from ``directory`` and the claims from ``settings`` (see :meth:`start`)."""
        keyring = keyring_from(settings, directory)
        issuer = TokenIssuer.open(directory, issuer=settings.issuer, keyring=keyring)
        self.issuer = issuer
        self.audience, self.ttl = settings.audience, settings.access_ttl
        self.verifier = TokenVerifier(
            settings.issuer,
            StaticJwksFetcher(issuer.jwks),
            settings.audience,
            max_lifetime=ACCESS_TOKEN_MAX_LIFETIME,
            min_refresh=0.0,
        )

    def _issuer(self) -> TokenIssuer:
        if self.issuer is None:
            raise ConfigError("the token issuer has no keys; the identity service is not running")
        return self.issuer

    def issue(self, *, subject: str, roles: Sequence[str]) -> str:
        """An access token for a user: ``roles`` and the scopes they grant, ``ttl`` seconds."""
        return self._issuer().issue(
            sub=subject,
            aud=self.audience,
            ttl=self.ttl,
            scopes=scopes_for(list(roles)),
            claims={"roles": list(roles)},
        )

    def jwks(self) -> dict[str, Any]:
        """The public keys (next, active, previous)."""
        return self._issuer().jwks()

    async def check(self) -> None:
        """Ready once keys are loaded."""
        if self.issuer is None:
            raise ConfigError("no signing keys loaded")

    async def drain(self) -> None:
        """Nothing to drain."""

    async def stop(self) -> None:
        """Forget the keys."""
        self.issuer = None
        self.verifier = None
