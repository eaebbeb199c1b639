"""HashiCorp Vault (KV version 2) as the scale-out secret backend.

Secret ``catalog/DB_PASSWORD`` lives at ``<mount>/data/<prefix>/catalog/DB_PASSWORD`` as ``{"value": ...}``,
so Vault's own versioning, audit log and policies apply (grant the control plane ``create, read, update,
delete, list`` on ``<mount>/data/<prefix>/*`` and ``<mount>/metadata/<prefix>/*``). Needs the ``vault`` extra
(``pip install 'baton[vault]'``, i.e. ``hvac``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from baton.errors import ConfigError, SecretError
from baton.security.secrets import Secret, SecretInfo, SecretName

T = TypeVar("T")

try:
    from hvac.exceptions import InvalidPath as _NotFound
except ImportError:  # the vault extra is optional; from_env() explains what to install

    class _NotFound(Exception):  # type: ignore[no-redef]
        """Stand-in so the module imports without hvac."""


@dataclass(frozen=True, slots=True)
class VaultPolicy:
    """Where Baton's secrets live in Vault."""

    mount_point: str = "secret"
    """Mount point of the KV v2 engine (Vault's default dev mount is ``secret``)."""
    path_prefix: str = "baton"
    """Folder under the mount holding Baton's secrets; one per system keeps systems apart."""


class VaultSecretStore:
    """A :class:`~baton.security.secrets.SecretBackend` over an ``hvac.Client`` (KV v2).

    The client is injected so tests can pass a fake; :meth:`from_env` builds the real one.
    """

    def __init__(self, client: Any, *, policy: VaultPolicy | None = None) -> None:
        self._client = client
        self.policy = policy or VaultPolicy()

    @classmethod
    def from_env(
        cls, *, environ: Mapping[str, str] | None = None, policy: VaultPolicy | None = None
    ) -> VaultSecretStore:
        """Connect with ``VAULT_ADDR`` and ``VAULT_TOKEN`` (and ``VAULT_NAMESPACE`` when set).

        Raises:
            ConfigError: ``hvac`` is not installed or the variables are missing.
        """
        env = os.environ if environ is None else environ
        try:
            import hvac
        except ImportError as exc:
            raise ConfigError("the Vault backend needs hvac: pip install 'baton[vault]'") from exc
        addr, token = env.get("VAULT_ADDR"), env.get("VAULT_TOKEN")
        if not addr or not token:
            raise ConfigError("set VAULT_ADDR and VAULT_TOKEN to use the Vault secret backend")
        client = hvac.Client(url=addr, token=token, namespace=env.get("VAULT_NAMESPACE"))
        return cls(client, policy=policy)

    @property
    def _kv(self) -> Any:
        return self._client.secrets.kv.v2

    def _path(self, name: SecretName | str) -> str:
        prefix = self.policy.path_prefix.strip("/")
        return f"{prefix}/{name}" if prefix else str(name)

    @contextmanager
    def _translated(self, action: str, name: str) -> Iterator[None]:
        """Map hvac's exceptions to :class:`SecretError` (the type name only: messages may quote requests)."""
        try:
            yield
        except SecretError:
            raise
        except Exception as exc:
            raise SecretError(f"vault: cannot {action} {name!r}: {type(exc).__name__}") from exc

    def _absent(self, call: Callable[[], T]) -> T | None:
        """Run ``call``; ``None`` when Vault answers "no such path" (hvac raises ``InvalidPath``, a 404)."""
        try:
            return call()
        except _NotFound:
            return None

    def set(self, name: str, value: Secret | str) -> None:
        """Write a new version of ``name``."""
        parsed = SecretName.parse(name)
        plain = value.reveal() if isinstance(value, Secret) else value
        with self._translated("write", str(parsed)):
            self._kv.create_or_update_secret(
                path=self._path(parsed), secret={"value": plain}, mount_point=self.policy.mount_point
            )

    def get(self, name: str) -> Secret | None:
        """The latest version of ``name``, or ``None`` (absent or its latest version deleted)."""
        parsed = SecretName.parse(name)
        with self._translated("read", str(parsed)):
            response = self._absent(
                lambda: self._kv.read_secret_version(
                    path=self._path(parsed),
                    mount_point=self.policy.mount_point,
                    raise_on_deleted_version=True,
                )
            )
        if response is None:
            return None
        try:
            return Secret(str(response["data"]["data"]["value"]))
        except (KeyError, TypeError) as exc:
            raise SecretError(f"vault: {parsed} has no 'value' field") from exc

    def _list_folder(self, path: str) -> list[str]:
        response = self._absent(lambda: self._kv.list_secrets(path=path, mount_point=self.policy.mount_point))
        return [] if response is None else list(response["data"]["keys"])

    def list(self) -> list[SecretInfo]:
        """Names and metadata (current version, update time) of every secret under the prefix."""
        infos: list[SecretInfo] = []
        with self._translated("list", self.policy.path_prefix):
            for scope in self._list_folder(self.policy.path_prefix.strip("/")):
                if not scope.endswith("/"):
                    continue
                for leaf in self._list_folder(self._path(scope.rstrip("/"))):
                    if leaf.endswith("/"):
                        continue
                    name = f"{scope}{leaf}"
                    meta = self._absent(
                        lambda n=name: self._kv.read_secret_metadata(  # type: ignore[misc]
                            path=self._path(n), mount_point=self.policy.mount_point
                        )
                    )
                    data = (meta or {}).get("data", {})
                    infos.append(SecretInfo(name, data.get("updated_time"), data.get("current_version")))
        return sorted(infos, key=lambda info: info.name)

    def delete(self, name: str) -> bool:
        """Remove ``name`` with all its versions; whether it existed."""
        parsed = SecretName.parse(name)
        path = self._path(parsed)
        with self._translated("delete", str(parsed)):
            exists = self._absent(lambda: self._kv.read_secret_metadata(path=path, mount_point=self.policy.mount_point))
            if exists is None:
                return False
            self._kv.delete_metadata_and_all_versions(path=path, mount_point=self.policy.mount_point)
        return True
