"""Ed25519 signing keys of the service-token issuer, their JWK form, and their sealed storage.

A key's ``kid`` is its RFC 7638 JWK thumbprint: derived from the public key, so it is the same everywhere and
cannot collide by accident.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from baton.errors import SecretError
from baton.security.crypto import Keyring, Sealed, write_private


def b64url(data: bytes) -> str:
    """Unpadded base64url (the JOSE encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The public JWK of ``public_key`` with ``kid``, ``alg`` and ``use`` set."""
    x = b64url(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    # RFC 7638: the thumbprint hashes the required members only, in lexicographic order, without spaces.
    thumbprint = hashlib.sha256(json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":")).encode())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": b64url(thumbprint.digest()), "alg": "EdDSA", "use": "sig"}


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One Ed25519 key pair and when it was created. ``repr`` never shows the private key."""

    private: Ed25519PrivateKey = field(repr=False)
    created_at: float = field(default_factory=time.time)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key pair."""
        return cls(Ed25519PrivateKey.generate())

    @property
    def jwk(self) -> dict[str, str]:
        """The public JWK."""
        return public_jwk(self.private.public_key())

    @property
    def kid(self) -> str:
        """The key id (JWK thumbprint)."""
        return self.jwk["kid"]


_AAD = b"baton-token-signing-keys"


def save_keys(path: Path, keyring: Keyring, keys: list[SigningKey]) -> None:
    """Write ``keys`` (active first) sealed with ``keyring`` to ``path`` (0600, atomic)."""
    plain = json.dumps(
        [
            {
                "d": b64url(
                    k.private.private_bytes(
                        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
                    )
                ),
                "created_at": k.created_at,
            }
            for k in keys
        ]
    ).encode()
    write_private(path, json.dumps(keyring.seal(plain, aad=_AAD).to_json()))


def load_keys(path: Path, keyring: Keyring) -> list[SigningKey]:
    """Read what :func:`save_keys` wrote.

    Raises:
        SecretError: the file is malformed or cannot be unsealed with ``keyring``.
    """
    try:
        sealed = Sealed.from_json(json.loads(path.read_text()))
        entries: list[dict[str, Any]] = json.loads(keyring.open(sealed, aad=_AAD))
        return [
            SigningKey(Ed25519PrivateKey.from_private_bytes(unb64url(e["d"])), float(e["created_at"])) for e in entries
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SecretError(f"cannot read the token signing keys in {path}") from exc


def unb64url(text: str) -> bytes:
    """Decode unpadded base64url."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
