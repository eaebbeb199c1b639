"""AES-256-GCM sealing with identified keys, and the keyring that holds them.

A sealed value records the id of the key that sealed it, so a keyring holding the active key plus retired
ones can open values from before a rotation. The id is derived from the key bytes (a short SHA-256 prefix),
so the same key gives the same id whether it came from a file or from ``BATON_MASTER_KEY``.

Every seal uses a fresh random 96-bit nonce (the size GCM is specified for) and binds *associated data*
(e.g. the secret's name): a ciphertext moved to another name fails authentication instead of decrypting.

:func:`load_keyring` finds the master key: ``BATON_MASTER_KEY`` or the key file ``<home>/master.key``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from baton.errors import ConfigError, SecretError

KEY_BYTES = 32
"""AES-256: the master key is 32 random bytes."""
MASTER_KEY_ENV = "BATON_MASTER_KEY"
"""Environment variable holding the master key(s), base64, active first, comma-separated."""
MASTER_KEY_FILE = "master.key"
"""Key file in the Baton home used when the variable is unset (one base64 key per line, active first)."""
NONCE_BYTES = 12
"""96-bit nonces: the length GCM is designed for (longer nonces are hashed and weaken the bound)."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    """One AES-256 key and its id. ``repr`` never shows the key bytes."""

    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise ConfigError(f"a master key must be {KEY_BYTES} bytes, got {len(self.material)}")

    @property
    def key_id(self) -> str:
        """Short id derived from the key (first 8 hex digits of its SHA-256)."""
        return hashlib.sha256(self.material).hexdigest()[:8]

    @classmethod
    def generate(cls) -> MasterKey:
        """A fresh random key from the OS CSPRNG."""
        return cls(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        """Decode a base64 (standard or URL-safe) key.

        Raises:
            ConfigError: the text is not base64 of exactly 32 bytes.
        """
        cleaned = text.strip()
        try:
            raw = base64.b64decode(cleaned.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("master key is not valid base64; expected 32 random bytes, base64") from exc
        return cls(raw)

    def to_base64(self) -> str:
        """Standard base64 of the key bytes."""
        return base64.b64encode(self.material).decode("ascii")


@dataclass(frozen=True, slots=True)
class Sealed:
    """A ciphertext with what is needed to open it: the key id and the nonce (all base64 in JSON)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes
    """AES-GCM output: encrypted bytes followed by the 16-byte authentication tag."""

    def to_json(self) -> dict[str, str]:
        """The JSON-ready form stored in files."""
        return {
            "kid": self.key_id,
            "nonce": base64.b64encode(self.nonce).decode("ascii"),
            "ct": base64.b64encode(self.ciphertext).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Sealed:
        """Parse :meth:`to_json` output.

        Raises:
            SecretError: a field is missing or not base64.
        """
        try:
            return cls(
                key_id=data["kid"],
                nonce=base64.b64decode(data["nonce"], validate=True),
                ciphertext=base64.b64decode(data["ct"], validate=True),
            )
        except (KeyError, TypeError, binascii.Error, ValueError) as exc:
            raise SecretError("sealed value is malformed (missing or non-base64 field)") from exc


@dataclass(frozen=True, slots=True)
class Keyring:
    """The active key (seals new values) plus retired keys (only open old values)."""

    active: MasterKey
    retired: tuple[MasterKey, ...] = ()

    def find(self, key_id: str) -> MasterKey:
        """The key with ``key_id``.

        Raises:
            SecretError: no key in the ring has that id (wrong or missing master key).
        """
        for key in (self.active, *self.retired):
            if key.key_id == key_id:
                return key
        raise SecretError(
            f"value was sealed with key {key_id!r}, which is not in the keyring "
            f"(active key is {self.active.key_id!r}); check BATON_MASTER_KEY or the master key file"
        )

    def seal(self, plaintext: bytes, *, aad: bytes) -> Sealed:
        """Encrypt ``plaintext`` with the active key, a fresh random nonce and ``aad`` bound in."""
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(self.active.material).encrypt(nonce, plaintext, aad)
        return Sealed(key_id=self.active.key_id, nonce=nonce, ciphertext=ciphertext)

    def open(self, sealed: Sealed, *, aad: bytes) -> bytes:
        """Decrypt and authenticate ``sealed``.

        Raises:
            SecretError: unknown key id, or authentication failed (wrong key, tampered ciphertext or nonce,
                or ``aad`` differs from the one sealed with).
        """
        key = self.find(sealed.key_id)
        if len(sealed.nonce) != NONCE_BYTES:
            raise SecretError("sealed value has a nonce of the wrong length")
        try:
            return AESGCM(key.material).decrypt(sealed.nonce, sealed.ciphertext, aad)
        except InvalidTag as exc:
            # One message for every cause on purpose: telling "wrong key" from "tampered" helps an attacker.
            raise SecretError("cannot decrypt: the value was tampered with or the master key is wrong") from exc


def load_keyring(home: Path, *, environ: Mapping[str, str] | None = None) -> tuple[Keyring, Path | None]:
    """The master keyring: from ``BATON_MASTER_KEY`` or ``<home>/master.key`` (created 0600 at first use).

    Both hold base64 keys, the active one first; further keys (comma-separated in the variable, one per line
    in the file) are retired keys kept to open values sealed before a rotation.

    Returns:
        The keyring and the key file it came from (``None`` when it came from the environment).
    """
    env = os.environ if environ is None else environ
    text = env.get(MASTER_KEY_ENV, "").strip()
    if text:
        return _parse_keys(text.replace(",", "\n"), MASTER_KEY_ENV), None
    path = home / MASTER_KEY_FILE
    if not path.exists():
        _create_exclusive(path, MasterKey.generate().to_base64() + "\n")
    return _parse_keys(path.read_text(), str(path)), path


def _create_exclusive(path: Path, text: str) -> bool:
    """Create ``path`` (0600) holding ``text`` unless it exists; whether this call created it.

    Two processes starting at once (replicas of one service) must neither each use a different key nor read the
    other's file before its key is written: the key is written and synced to a private temporary file first, then
    hard-linked into place, which fails if the name exists. Exactly one key wins; the loser reads the winner's,
    complete file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp: already 0600
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def _parse_keys(text: str, origin: str) -> Keyring:
    keys = [MasterKey.from_base64(line) for line in text.splitlines() if line.strip()]
    if not keys:
        raise ConfigError(f"{origin} holds no master key")
    return Keyring(active=keys[0], retired=tuple(keys[1:]))


def write_private(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text``, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
