"""The service-token issuer: short-lived EdDSA JWTs, audience = the target service.

The JWKS holds three generations: the *next* key (published ahead, signing nothing yet), the *active* key,
and ``keep`` *previous* keys. Rotation promotes next to active. So a verifier that fetched the JWKS before a
rotation already knows the key of every token signed after it (its rate-limited refresh is never in the
way), and tokens signed just before a rotation still verify until they expire.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jwt

from baton.errors import SecurityError
from baton.security.crypto import Keyring, load_keyring
from baton.security.tokens.keys import SigningKey, load_keys, save_keys

DEFAULT_TTL = 300.0
"""Seconds a service token lives by default (5 minutes)."""
MAX_TTL = 3600.0
"""Upper bound on a token's lifetime: service tokens are minutes, not days."""
KEYS_FILE = Path("tokens") / "signing-keys.json"
"""Where :meth:`TokenIssuer.open` keeps the keys, under the Baton home (sealed with the master keyring)."""
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti"})


class TokenIssuer:
    """Signs service tokens with the active key; publishes the active and previous public keys as a JWKS.

    Args:
        issuer: the ``iss`` claim, also the base URL verifiers fetch ``/.well-known/jwks.json`` from.
        keys: signing keys: next, active, then previous ones (default: two fresh keys).
        keep: how many previous keys stay in the JWKS after a rotation.
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(
        self,
        issuer: str,
        *,
        keys: Iterable[SigningKey] | None = None,
        keep: int = 2,
        clock: Callable[[], float] = time.time,
        on_rotate: Callable[[list[SigningKey]], None] | None = None,
    ) -> None:
        self.issuer = issuer
        self.keep = keep
        self.clock = clock
        """Seconds since the epoch; tokens are stamped with it."""
        self._keys = list(keys) if keys else [SigningKey.generate(), SigningKey.generate()]
        if len(self._keys) < 2:
            raise SecurityError("a token issuer needs a next and an active key")
        self._on_rotate = on_rotate

    @classmethod
    def open(cls, home: Path, *, issuer: str, keyring: Keyring | None = None, keep: int = 2) -> TokenIssuer:
        """An issuer whose keys persist in ``<home>/tokens/`` sealed with the master keyring."""
        if keyring is None:
            keyring, _ = load_keyring(home)
        path = home / KEYS_FILE
        ring = keyring
        keys = load_keys(path, ring) if path.exists() else [SigningKey.generate(), SigningKey.generate()]
        if not path.exists():
            save_keys(path, ring, keys)
        return cls(issuer, keys=keys, keep=keep, on_rotate=lambda ks: save_keys(path, ring, ks))

    @property
    def active_kid(self) -> str:
        """``kid`` of the key signing new tokens."""
        return self._keys[1].kid

    def rotate(self) -> str:
        """Promote the published next key to active, publish a fresh next key, keep ``keep`` previous keys.

        Returns:
            The ``kid`` now signing tokens.
        """
        self._keys = [SigningKey.generate(), *self._keys[: self.keep + 1]]
        if self._on_rotate is not None:
            self._on_rotate(self._keys)
        return self.active_kid

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document (``{"keys": [...]}``): next, active, then previous keys."""
        return {"keys": [key.jwk for key in self._keys]}

    def issue(
        self,
        *,
        sub: str,
        aud: str,
        ttl: float = DEFAULT_TTL,
        scopes: Iterable[str] = (),
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed token for ``sub`` (the calling service) to present to ``aud`` (the target service).

        Raises:
            SecurityError: ``ttl`` outside (0, 3600] s, or ``claims`` tries to override a registered claim.
        """
        if not 0 < ttl <= MAX_TTL:
            raise SecurityError(f"token ttl must be within (0, {MAX_TTL:.0f}] seconds, got {ttl}")
        extra = dict(claims or {})
        if RESERVED_CLAIMS & extra.keys():
            raise SecurityError(f"claims may not override {sorted(RESERVED_CLAIMS & extra.keys())}")
        now = int(self.clock())
        payload: dict[str, Any] = {
            **extra,
            "iss": self.issuer,
            "sub": sub,
            "aud": aud,
            "iat": now,
            "nbf": now,
            "exp": now + int(ttl),
            "jti": secrets.token_urlsafe(12),
        }
        scope_list = list(scopes)
        if scope_list:
            payload["scope"] = " ".join(scope_list)
        key = self._keys[1]
        return jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid, "typ": "JWT"})
