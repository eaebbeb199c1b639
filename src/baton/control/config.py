"""Central configuration: one JetStream key-value bucket, ``baton_config``.

Keys are ``<service>.<key>`` (``catalog.page_size``) or ``_global.<key>`` (every service); values are strings,
parsed by the receiving service's settings model (so ``"25"``, ``"true"`` and JSON like ``"[1, 2]"`` all
work). The bucket keeps a few revisions per key, so a bad change can be looked up and undone. Running
instances watch the bucket through :class:`baton.kit.live_config.LiveConfig`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from baton.errors import BrokerError, BrokerUnavailable, ConfigError

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

BUCKET = "baton_config"
HISTORY = 5
"""Revisions kept per key (JetStream allows up to 64)."""
GLOBAL_SCOPE = "_global"

_SCOPE_RE = re.compile(r"^(_global|[a-z][a-z0-9_-]{0,62})$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """A parsed key ``<scope>.<name>``: scope is a service or ``_global``, name a settings field."""

    scope: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ConfigKey:
        """Parse and validate a key.

        Raises:
            ConfigError: the key is not ``<service>.<name>`` / ``_global.<name>`` made of KV-safe tokens.
        """
        scope, sep, name = text.partition(".")
        if not sep or not _SCOPE_RE.match(scope) or not _NAME_RE.match(name):
            raise ConfigError(
                f"invalid config key {text!r}: expected '<service>.<name>' or '_global.<name>' where the "
                "service is lowercase [a-z0-9_-] and the name is [A-Za-z0-9_-] (e.g. 'catalog.page_size')"
            )
        return cls(scope, name)

    @property
    def field(self) -> str:
        """The settings field this key sets (lowercase, ``-`` read as ``_``)."""
        return self.name.lower().replace("-", "_")

    def __str__(self) -> str:
        return f"{self.scope}.{self.name}"


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One key's current value and where it stands in the bucket."""

    key: str
    value: str
    revision: int
    """The bucket's stream sequence of this write: increases with every change anywhere in the bucket."""
    updated_at: str | None = None
    """ISO-8601 time of the write, when known."""

    def to_json(self) -> dict[str, object]:
        """JSON-ready form (as the API returns it)."""
        return {"key": self.key, "value": self.value, "revision": self.revision, "updated_at": self.updated_at}


def _translate(exc: Exception, action: str) -> BrokerError:
    import nats.errors

    if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.NoServersError):
        return BrokerUnavailable(f"config: cannot {action}: no connection to NATS")
    return BrokerError(f"config: cannot {action}: {type(exc).__name__}: {exc}")


async def open_bucket(js: JetStreamContext) -> KeyValue:
    """Bind to the ``baton_config`` bucket, creating it on first use.

    Raises:
        BrokerError: JetStream refused or is unreachable.
    """
    import nats.js.errors

    try:
        try:
            return await js.key_value(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            # Creating with an identical config is idempotent, so two processes racing here both succeed.
            return await js.create_key_value(bucket=BUCKET, history=HISTORY, description="Baton central configuration")
    except BrokerError:
        raise
    except Exception as exc:
        raise _translate(exc, "open the config bucket") from exc


class ConfigStore:
    """Read and write central configuration. Build with :meth:`open`."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> ConfigStore:
        """A store over the ``baton_config`` bucket (created if missing)."""
        return cls(await open_bucket(js))

    @property
    def kv(self) -> KeyValue:
        """The underlying nats-py bucket (for watchers)."""
        return self._kv

    async def set(self, key: str, value: str) -> ConfigEntry:
        """Write ``key`` and return the new entry.

        Raises:
            ConfigError: the key is invalid.
            BrokerError: the write was not acknowledged.
        """
        parsed = ConfigKey.parse(key)
        try:
            revision = await self._kv.put(str(parsed), value.encode())
        except Exception as exc:
            raise _translate(exc, f"set {parsed}") from exc
        return ConfigEntry(str(parsed), value, revision)

    async def get(self, key: str) -> ConfigEntry | None:
        """The current value of ``key``, or ``None`` when unset (or deleted)."""
        import nats.js.errors

        parsed = ConfigKey.parse(key)
        try:
            entry = await self._kv.get(str(parsed))
        except nats.js.errors.KeyNotFoundError:
            return None
        except Exception as exc:
            raise _translate(exc, f"get {parsed}") from exc
        return ConfigEntry(str(parsed), (entry.value or b"").decode(), entry.revision or 0)

    async def list(self, *, service: str | None = None) -> list[ConfigEntry]:
        """Every live key, sorted; with ``service``, only that service's keys and the global ones."""
        from nats.js.kv import KV_DEL, KV_PURGE

        if service is not None and not _SCOPE_RE.match(service):
            raise ConfigError(f"invalid service name {service!r}")
        entries: list[ConfigEntry] = []
        try:
            watcher = await self._kv.watchall()
            try:
                # A watch replays the last value per key, then yields None once it has caught up.
                async for update in watcher:
                    if update is None:
                        break
                    if update.operation in (KV_DEL, KV_PURGE):
                        continue
                    entries.append(
                        ConfigEntry(
                            update.key,
                            (update.value or b"").decode(),
                            update.revision or 0,
                            _iso(update.created),
                        )
                    )
            finally:
                await watcher.stop()  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise _translate(exc, "list keys") from exc
        if service is not None:
            entries = [e for e in entries if e.key.partition(".")[0] in (service, GLOBAL_SCOPE)]
        return sorted(entries, key=lambda e: e.key)

    async def delete(self, key: str) -> bool:
        """Remove ``key`` (a delete marker that watchers see); whether it was set."""
        parsed = ConfigKey.parse(key)
        if await self.get(str(parsed)) is None:
            return False
        try:
            await self._kv.delete(str(parsed))
        except Exception as exc:
            raise _translate(exc, f"delete {parsed}") from exc
        return True


def _iso(created: object) -> str | None:
    return created.isoformat(timespec="seconds") if isinstance(created, datetime) else None
