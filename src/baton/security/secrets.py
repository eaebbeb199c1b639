"""Secrets: a masked value type, a pluggable backend and its local (AES-GCM file) implementation.

A secret is named ``<scope>/<NAME>``: the scope is a service name (``catalog/DB_PASSWORD``) or ``_global``
(for every service); ``NAME`` is the environment variable the value is injected as when an instance starts
(:func:`secrets_env`). Values travel as :class:`Secret`, whose ``repr``/``str`` is ``'**********'``, so a
stray log line or traceback never prints one.

Backends (:class:`SecretBackend`): :class:`LocalSecretStore` (``.baton/secrets.enc.json``, the default on one
machine), :class:`MemorySecretStore` (tests) and :class:`baton.security.vault.VaultSecretStore` (scale-out).
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from baton.errors import ConfigError, SecretError
from baton.security.crypto import MASTER_KEY_ENV, Keyring, MasterKey, Sealed, load_keyring, write_private

MASK = "**********"
GLOBAL_SCOPE = "_global"
SECRETS_FILE = "secrets.enc.json"

_SCOPE_RE = re.compile(r"^(_global|[a-z][a-z0-9_-]{0,62})$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class Secret:
    """A secret value that never shows itself: ``repr``, ``str`` and f-strings print ``'**********'``.

    Call :meth:`reveal` at the one place the plain value is needed (an env var, a DB password).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plain value."""
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        # Constant-time, so comparing a guess against a secret leaks nothing through timing.
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class SecretName:
    """A parsed secret name ``<scope>/<NAME>``."""

    scope: str
    """``_global`` or a service name."""
    env: str
    """The environment variable name the value is injected as."""

    @classmethod
    def parse(cls, text: str) -> SecretName:
        """Parse and validate ``<scope>/<NAME>``.

        Raises:
            ConfigError: the name does not have that shape.
        """
        scope, sep, env = text.partition("/")
        if not sep or not _SCOPE_RE.match(scope) or not _ENV_NAME_RE.match(env):
            raise ConfigError(
                f"invalid secret name {text!r}: expected '<service>/<ENV_NAME>' or '_global/<ENV_NAME>', "
                "e.g. 'catalog/DB_PASSWORD'"
            )
        return cls(scope, env)

    def __str__(self) -> str:
        return f"{self.scope}/{self.env}"


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """What may be shown about a secret: never its value."""

    name: str
    updated_at: str | None = None
    """ISO-8601 UTC time of the last write, when the backend knows it."""
    version: int | None = None
    """Backend version counter (Vault KV v2 version; local: number of writes)."""
    key_id: str | None = None
    """Id of the master key that sealed it (local backend)."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready metadata."""
        return asdict(self)


@runtime_checkable
class SecretBackend(Protocol):
    """Where secrets live. Implementations must never log a value."""

    def set(self, name: str, value: Secret | str) -> None:
        """Create or replace ``name``."""

    def get(self, name: str) -> Secret | None:
        """The value of ``name``, or ``None`` when absent."""

    def list(self) -> list[SecretInfo]:
        """Metadata of every secret, sorted by name."""

    def delete(self, name: str) -> bool:
        """Remove ``name``; whether it existed."""


def _plain(value: Secret | str) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class MemorySecretStore:
    """In-memory backend for tests (plain values in a dict)."""

    def __init__(self, initial: Mapping[str, str] | None = None) -> None:
        self._values: dict[str, tuple[str, SecretInfo]] = {}
        for name, value in (initial or {}).items():
            self.set(name, value)

    def set(self, name: str, value: Secret | str) -> None:
        """Create or replace ``name``."""
        key = str(SecretName.parse(name))
        old = self._values.get(key)
        version = (old[1].version or 0) + 1 if old else 1
        self._values[key] = (_plain(value), SecretInfo(key, _now(), version))

    def get(self, name: str) -> Secret | None:
        """The value of ``name``, or ``None``."""
        found = self._values.get(str(SecretName.parse(name)))
        return Secret(found[0]) if found else None

    def list(self) -> list[SecretInfo]:
        """Metadata of every secret."""
        return [info for _, (_, info) in sorted(self._values.items())]

    def delete(self, name: str) -> bool:
        """Remove ``name``."""
        return self._values.pop(str(SecretName.parse(name)), None) is not None


def secrets_env(service: str, backend: SecretBackend) -> dict[str, str]:
    """The environment variables an instance of ``service`` starts with: ``_global/*`` then its own.

    A service's own secret wins over a global one with the same ``NAME``. The result holds plain values:
    pass it straight to the child's ``env=``, never to a log.
    """
    own: dict[str, str] = {}
    shared: dict[str, str] = {}
    for info in backend.list():
        name = SecretName.parse(info.name)
        target = own if name.scope == service else shared if name.scope == GLOBAL_SCOPE else None
        if target is None:
            continue
        value = backend.get(info.name)
        if value is not None:
            target[name.env] = value.reveal()
    return {**shared, **own}


class LocalSecretStore:
    """Secrets in one JSON file, each value AES-256-GCM sealed with AAD = its name.

    Build it with :meth:`open` (keyring from ``BATON_MASTER_KEY`` or ``.baton/master.key``). Thread-safe
    within a process; the control plane is the only writer.
    """

    def __init__(self, path: Path, *, keyring: Keyring, key_file: Path | None = None) -> None:
        self.path = path
        self.key_file = key_file
        self._keyring = keyring
        self._lock = threading.Lock()

    @classmethod
    def open(cls, home: Path, *, environ: Mapping[str, str] | None = None) -> LocalSecretStore:
        """The store of a Baton home (``<home>/secrets.enc.json``)."""
        keyring, key_file = load_keyring(home, environ=environ)
        return cls(home / SECRETS_FILE, keyring=keyring, key_file=key_file)

    @property
    def key_id(self) -> str:
        """Id of the active master key."""
        return self._keyring.active.key_id

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            entries = data["secrets"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SecretError(f"{self.path} is not a Baton secrets file") from exc
        if not isinstance(entries, dict):
            raise SecretError(f"{self.path} is not a Baton secrets file")
        return entries

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        write_private(self.path, json.dumps({"version": 1, "secrets": entries}, indent=1, sort_keys=True))

    def _seal(self, name: str, plain: str, *, version: int) -> dict[str, Any]:
        sealed = self._keyring.seal(plain.encode(), aad=name.encode())
        return {**sealed.to_json(), "updated_at": _now(), "version": version}

    def _open(self, name: str, entry: dict[str, Any]) -> str:
        return self._keyring.open(Sealed.from_json(entry), aad=name.encode()).decode()

    def set(self, name: str, value: Secret | str) -> None:
        """Seal and store ``name`` (replacing any previous value)."""
        key = str(SecretName.parse(name))
        with self._lock:
            entries = self._load()
            version = int(entries.get(key, {}).get("version", 0)) + 1
            entries[key] = self._seal(key, _plain(value), version=version)
            self._save(entries)

    def get(self, name: str) -> Secret | None:
        """Open ``name``.

        Raises:
            SecretError: the value cannot be authenticated (wrong master key, tampering).
        """
        key = str(SecretName.parse(name))
        with self._lock:
            entry = self._load().get(key)
        return None if entry is None else Secret(self._open(key, entry))

    def list(self) -> list[SecretInfo]:
        """Names and metadata, without opening any value."""
        with self._lock:
            entries = self._load()
        return [
            SecretInfo(name, entry.get("updated_at"), entry.get("version"), entry.get("kid"))
            for name, entry in sorted(entries.items())
        ]

    def delete(self, name: str) -> bool:
        """Remove ``name``; whether it existed."""
        key = str(SecretName.parse(name))
        with self._lock:
            entries = self._load()
            if entries.pop(key, None) is None:
                return False
            self._save(entries)
            return True

    def rotate(self, new_key: MasterKey | None = None) -> str:
        """Re-seal every value with a new master key; return the new key's id.

        With a key file, a fresh key is generated unless given, and the file is rewritten in crash-safe steps
        (new + old key, then the re-sealed secrets, then the new key alone). With ``BATON_MASTER_KEY`` the new
        key must be given, and the operator sets the variable to it afterwards.

        Raises:
            ConfigError: the keyring comes from the environment and no ``new_key`` was given.
            SecretError: a value cannot be opened with the current keyring.
        """
        if new_key is None and self.key_file is None:
            raise ConfigError(f"{MASTER_KEY_ENV} is set: pass the new key to rotate() and update the variable")
        fresh = new_key or MasterKey.generate()
        with self._lock:
            entries = self._load()
            plain = {name: self._open(name, entry) for name, entry in entries.items()}
            old = self._keyring
            if self.key_file is not None:
                keys = [fresh, old.active, *old.retired]
                write_private(self.key_file, "".join(k.to_base64() + "\n" for k in keys))
            self._keyring = Keyring(active=fresh, retired=(old.active, *old.retired))
            self._save(
                {
                    name: self._seal(name, value, version=int(entries[name].get("version", 0)))
                    for name, value in plain.items()
                }
            )
            # Every value is sealed with the new key now: retired keys are no longer needed.
            self._keyring = Keyring(active=fresh)
            if self.key_file is not None:
                write_private(self.key_file, fresh.to_base64() + "\n")
        return fresh.key_id
