"""The Secret type, secret names, the local encrypted store (incl. rotation) and secrets_env."""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest

from baton.errors import ConfigError, SecretError
from baton.security.crypto import MasterKey
from baton.security.secrets import (
    MASK,
    LocalSecretStore,
    MemorySecretStore,
    Secret,
    SecretBackend,
    SecretName,
    load_keyring,
    secrets_env,
)


def test_secret_never_shows_its_value(caplog):
    secret = Secret("hunter2")
    assert repr(secret) == MASK
    assert str(secret) == MASK
    assert f"{secret}" == MASK
    assert "hunter2" not in repr({"password": secret})
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("using %s / %r", secret, secret)
    assert "hunter2" not in caplog.text
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("hunter3")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("catalog/DB_PASSWORD", True),
        ("_global/SMTP_TOKEN", True),
        ("order-v2/api_key", True),
        ("catalog", False),
        ("catalog/", False),
        ("/X", False),
        ("Catalog/X", False),
        ("catalog/1X", False),
        ("catalog/A-B", False),
        ("catalog/x/y", False),
        ("../etc/X", False),
    ],
)
def test_secret_names(name, ok):
    if ok:
        assert str(SecretName.parse(name)) == name
    else:
        with pytest.raises(ConfigError, match="invalid secret name"):
            SecretName.parse(name)


def test_key_file_created_private_and_reused(tmp_path):
    ring, path = load_keyring(tmp_path / "home", environ={})
    assert path == tmp_path / "home" / "master.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, _ = load_keyring(tmp_path / "home", environ={})
    assert again.active.key_id == ring.active.key_id


def test_key_from_environment_wins(tmp_path):
    key = MasterKey.generate()
    ring, path = load_keyring(tmp_path, environ={"BATON_MASTER_KEY": key.to_base64()})
    assert path is None
    assert ring.active.key_id == key.key_id
    assert not (tmp_path / "master.key").exists()


def test_local_store_round_trip_encrypted_at_rest(tmp_path):
    store = LocalSecretStore.open(tmp_path, environ={})
    assert isinstance(store, SecretBackend)
    store.set("catalog/DB_PASSWORD", "pa55word-xyz")
    store.set("_global/SMTP_TOKEN", Secret("tok-123"))
    assert store.get("catalog/DB_PASSWORD") == Secret("pa55word-xyz")
    assert store.get("catalog/MISSING") is None
    on_disk = (tmp_path / "secrets.enc.json").read_text()
    assert "pa55word-xyz" not in on_disk
    assert "tok-123" not in on_disk
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.enc.json").st_mode) == 0o600
    infos = store.list()
    assert [i.name for i in infos] == ["_global/SMTP_TOKEN", "catalog/DB_PASSWORD"]
    assert all(i.key_id == store.key_id and i.version == 1 for i in infos)
    assert "pa55word" not in json.dumps([i.to_json() for i in infos])
    store.set("catalog/DB_PASSWORD", "second")
    assert store.list()[1].version == 2
    assert store.delete("catalog/DB_PASSWORD") is True
    assert store.delete("catalog/DB_PASSWORD") is False
    assert [i.name for i in store.list()] == ["_global/SMTP_TOKEN"]


def test_local_store_with_wrong_key_fails_cleanly(tmp_path):
    LocalSecretStore.open(tmp_path, environ={"BATON_MASTER_KEY": MasterKey.generate().to_base64()}).set(
        "catalog/X", "v"
    )
    other = LocalSecretStore.open(tmp_path, environ={"BATON_MASTER_KEY": MasterKey.generate().to_base64()})
    with pytest.raises(SecretError, match="not in the keyring"):
        other.get("catalog/X")


def test_local_store_detects_a_swapped_value(tmp_path):
    store = LocalSecretStore.open(tmp_path, environ={})
    store.set("catalog/A", "value-a")
    store.set("catalog/B", "value-b")
    path = tmp_path / "secrets.enc.json"
    data = json.loads(path.read_text())
    data["secrets"]["catalog/A"] = data["secrets"]["catalog/B"]  # an attacker copies B's ciphertext over A
    path.write_text(json.dumps(data))
    with pytest.raises(SecretError, match="tampered"):
        store.get("catalog/A")


def test_rotation_reseals_everything_with_the_new_key(tmp_path):
    store = LocalSecretStore.open(tmp_path, environ={})
    store.set("catalog/A", "value-a")
    store.set("_global/B", "value-b")
    old_id = store.key_id
    before = (tmp_path / "secrets.enc.json").read_text()

    new_id = store.rotate()

    assert new_id != old_id
    assert {i.key_id for i in store.list()} == {new_id}
    assert (tmp_path / "secrets.enc.json").read_text() != before
    # A fresh process reading the key file opens every value; the old key is gone from the file.
    reopened = LocalSecretStore.open(tmp_path, environ={})
    assert reopened.key_id == new_id
    assert reopened.get("catalog/A") == Secret("value-a")
    assert reopened.get("_global/B") == Secret("value-b")
    assert len((tmp_path / "master.key").read_text().split()) == 1


def test_rotation_with_environment_key_needs_the_new_key(tmp_path):
    old = MasterKey.generate()
    store = LocalSecretStore.open(tmp_path, environ={"BATON_MASTER_KEY": old.to_base64()})
    store.set("catalog/A", "a")
    with pytest.raises(ConfigError, match="BATON_MASTER_KEY"):
        store.rotate()
    new = MasterKey.generate()
    assert store.rotate(new) == new.key_id
    # The operator now sets BATON_MASTER_KEY to the new key (old one may stay listed, retired).
    after = LocalSecretStore.open(tmp_path, environ={"BATON_MASTER_KEY": f"{new.to_base64()},{old.to_base64()}"})
    assert after.get("catalog/A") == Secret("a")


def test_secrets_env_merges_global_then_service():
    backend = MemorySecretStore(
        {
            "_global/SMTP_TOKEN": "global-smtp",
            "_global/DB_PASSWORD": "global-db",
            "catalog/DB_PASSWORD": "catalog-db",
            "order/DB_PASSWORD": "order-db",
        }
    )
    assert secrets_env("catalog", backend) == {"SMTP_TOKEN": "global-smtp", "DB_PASSWORD": "catalog-db"}
    assert secrets_env("payment", backend) == {"SMTP_TOKEN": "global-smtp", "DB_PASSWORD": "global-db"}
