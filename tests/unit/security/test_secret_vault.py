"""VaultSecretStore against a fake hvac client that mimics KV v2's responses and errors."""

from __future__ import annotations

from types import SimpleNamespace

import hvac.exceptions
import pytest

from baton.errors import ConfigError, SecretError
from baton.security.secrets import Secret, SecretBackend, secrets_env
from baton.security.vault import VaultPolicy, VaultSecretStore


class FakeKvV2:
    """The subset of ``hvac.api.secrets_engines.KvV2`` Baton calls, with Vault's semantics."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], list[dict]] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.down = False

    def _check(self, op, path, mount_point):
        self.calls.append((op, mount_point, path))
        if self.down:
            raise hvac.exceptions.VaultDown("Vault is sealed")

    def create_or_update_secret(self, path, secret, mount_point="secret", cas=None):
        self._check("write", path, mount_point)
        self.data.setdefault((mount_point, path), []).append(dict(secret))
        return {"data": {"version": len(self.data[(mount_point, path)])}}

    def read_secret_version(self, path, version=None, mount_point="secret", raise_on_deleted_version=None):
        self._check("read", path, mount_point)
        versions = self.data.get((mount_point, path))
        if not versions:
            raise hvac.exceptions.InvalidPath(f"no secret at {path}")
        return {"data": {"data": versions[-1], "metadata": {"version": len(versions)}}}

    def list_secrets(self, path, mount_point="secret"):
        self._check("list", path, mount_point)
        prefix = path.rstrip("/") + "/" if path else ""
        keys = set()
        for mount, full in self.data:
            if mount == mount_point and full.startswith(prefix):
                rest = full[len(prefix) :]
                head, sep, _ = rest.partition("/")
                keys.add(head + sep)
        if not keys:
            raise hvac.exceptions.InvalidPath(f"nothing under {path}")
        return {"data": {"keys": sorted(keys)}}

    def read_secret_metadata(self, path, mount_point="secret"):
        self._check("metadata", path, mount_point)
        versions = self.data.get((mount_point, path))
        if not versions:
            raise hvac.exceptions.InvalidPath(f"no metadata at {path}")
        return {"data": {"current_version": len(versions), "updated_time": "2024-01-01T00:00:00Z"}}

    def delete_metadata_and_all_versions(self, path, mount_point="secret"):
        self._check("destroy", path, mount_point)
        self.data.pop((mount_point, path), None)


@pytest.fixture
def kv():
    return FakeKvV2()


@pytest.fixture
def store(kv):
    client = SimpleNamespace(secrets=SimpleNamespace(kv=SimpleNamespace(v2=kv)))
    return VaultSecretStore(client, policy=VaultPolicy(mount_point="kv", path_prefix="shop"))


def test_is_a_secret_backend(store):
    assert isinstance(store, SecretBackend)


def test_round_trip_under_the_configured_mount_and_prefix(store, kv):
    store.set("catalog/DB_PASSWORD", Secret("pw-1"))
    assert kv.data[("kv", "shop/catalog/DB_PASSWORD")] == [{"value": "pw-1"}]
    assert store.get("catalog/DB_PASSWORD") == Secret("pw-1")
    store.set("catalog/DB_PASSWORD", "pw-2")
    assert store.get("catalog/DB_PASSWORD") == Secret("pw-2")
    assert store.get("catalog/NOPE") is None


def test_list_walks_scopes_and_reports_versions_not_values(store):
    assert store.list() == []
    store.set("catalog/DB_PASSWORD", "a")
    store.set("catalog/DB_PASSWORD", "b")
    store.set("_global/SMTP_TOKEN", "c")
    infos = store.list()
    assert [(i.name, i.version) for i in infos] == [("_global/SMTP_TOKEN", 1), ("catalog/DB_PASSWORD", 2)]
    assert all(i.updated_at for i in infos)
    assert secrets_env("catalog", store) == {"SMTP_TOKEN": "c", "DB_PASSWORD": "b"}


def test_delete_removes_all_versions(store, kv):
    store.set("catalog/X", "1")
    assert store.delete("catalog/X") is True
    assert ("kv", "shop/catalog/X") not in kv.data
    assert store.delete("catalog/X") is False
    assert store.get("catalog/X") is None


def test_vault_errors_are_translated_without_values(store, kv):
    kv.down = True
    with pytest.raises(SecretError, match="vault: cannot write 'catalog/X': VaultDown") as info:
        store.set("catalog/X", "very-secret")
    assert "very-secret" not in str(info.value)
    with pytest.raises(SecretError, match="cannot read"):
        store.get("catalog/X")


def test_invalid_names_never_reach_vault(store, kv):
    with pytest.raises(ConfigError):
        store.set("../../sys/policy/X", "v")
    assert kv.calls == []


def test_from_env_requires_address_and_token():
    with pytest.raises(ConfigError, match="VAULT_ADDR and VAULT_TOKEN"):
        VaultSecretStore.from_env(environ={})
    built = VaultSecretStore.from_env(environ={"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "t"})
    assert built.policy == VaultPolicy()
