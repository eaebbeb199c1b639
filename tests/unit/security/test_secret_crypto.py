"""AES-GCM sealing and the keyring: round trip, wrong key, tampering, key parsing."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from baton.errors import ConfigError, SecretError
from baton.security.crypto import Keyring, MasterKey, Sealed


def test_round_trip_with_fresh_nonce_each_time():
    ring = Keyring(MasterKey.generate())
    first = ring.seal(b"s3cret", aad=b"catalog/DB_PASSWORD")
    second = ring.seal(b"s3cret", aad=b"catalog/DB_PASSWORD")
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext
    assert b"s3cret" not in first.ciphertext
    assert len(first.nonce) == 12
    assert ring.open(first, aad=b"catalog/DB_PASSWORD") == b"s3cret"
    assert ring.open(Sealed.from_json(first.to_json()), aad=b"catalog/DB_PASSWORD") == b"s3cret"


def test_wrong_key_fails_cleanly():
    sealed = Keyring(MasterKey.generate()).seal(b"v", aad=b"n")
    other = MasterKey.generate()
    with pytest.raises(SecretError, match="not in the keyring"):
        Keyring(other).open(sealed, aad=b"n")
    # Same id claimed but a different key: authentication fails, no garbage plaintext.
    forged = dataclasses.replace(sealed, key_id=other.key_id)
    with pytest.raises(SecretError, match="tampered with or the master key is wrong"):
        Keyring(other).open(forged, aad=b"n")


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "tag"])
def test_tampering_is_detected(part):
    ring = Keyring(MasterKey.generate())
    sealed = ring.seal(b"value", aad=b"catalog/X")
    if part == "ciphertext":
        changed = dataclasses.replace(sealed, ciphertext=bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:])
    elif part == "nonce":
        changed = dataclasses.replace(sealed, nonce=bytes([sealed.nonce[0] ^ 1]) + sealed.nonce[1:])
    else:
        changed = dataclasses.replace(sealed, ciphertext=sealed.ciphertext[:-1] + bytes([sealed.ciphertext[-1] ^ 1]))
    with pytest.raises(SecretError):
        ring.open(changed, aad=b"catalog/X")


def test_value_moved_to_another_name_does_not_open():
    ring = Keyring(MasterKey.generate())
    sealed = ring.seal(b"value", aad=b"catalog/X")
    with pytest.raises(SecretError):
        ring.open(sealed, aad=b"order/X")


def test_retired_key_still_opens_old_values():
    old, new = MasterKey.generate(), MasterKey.generate()
    sealed = Keyring(old).seal(b"v", aad=b"a")
    assert Keyring(new, retired=(old,)).open(sealed, aad=b"a") == b"v"
    assert Keyring(new, retired=(old,)).seal(b"v", aad=b"a").key_id == new.key_id


def test_master_key_parsing_and_masking():
    raw = bytes(range(32))
    key = MasterKey.from_base64(base64.urlsafe_b64encode(raw).decode())
    assert key.material == raw
    assert MasterKey.from_base64(key.to_base64()).key_id == key.key_id
    assert raw.hex() not in repr(key)
    assert str(raw) not in repr(key)
    with pytest.raises(ConfigError, match="32 bytes"):
        MasterKey(b"short")
    with pytest.raises(ConfigError, match="base64"):
        MasterKey.from_base64("not base64 at all!")


def test_malformed_sealed_json_is_a_secret_error():
    with pytest.raises(SecretError, match="malformed"):
        Sealed.from_json({"kid": "x", "nonce": "***"})
