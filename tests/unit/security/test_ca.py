"""The CA: what it keeps on disk, the leaves it issues, and root rotation."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from baton.errors import SecretError, SecurityError
from baton.security import ca as ca_module
from baton.security.ca import CertificateAuthority
from baton.security.certs import LeafCertificate, certs_from_pem, make_root
from baton.security.crypto import Keyring, MasterKey
from baton.security.spiffe import spiffe_id_of


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(MasterKey.generate())


@pytest.fixture
def ca(tmp_path, keyring) -> CertificateAuthority:
    return CertificateAuthority.open(tmp_path, keyring=keyring)


def verify_client(leaf: LeafCertificate, bundle_pem: str) -> None:
    """Path validation the way a TLS server does it (cryptography's RFC 5280 verifier)."""
    store = Store(certs_from_pem(bundle_pem))
    verifier = PolicyBuilder().store(store).build_client_verifier()
    (cert,) = certs_from_pem(leaf.cert_pem)
    verifier.verify(cert, certs_from_pem(leaf.chain_pem))


def test_first_open_creates_root_and_issuer_with_sealed_keys(tmp_path, ca):
    files = sorted(p.name for p in (tmp_path / "ca").iterdir())
    assert "ca.json" in files
    assert "bundle.pem" in files
    key_files = [tmp_path / "ca" / name for name in files if name.endswith(".key.json")]
    assert len(key_files) == 2  # root + issuer
    for path in key_files:
        assert "PRIVATE KEY" not in path.read_text()
        assert os.stat(path).st_mode & 0o777 == 0o600
    (root,) = certs_from_pem(ca.trust_bundle())
    assert root.not_valid_after_utc - root.not_valid_before_utc >= timedelta(days=3649)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_reopening_loads_the_same_root(tmp_path, ca, keyring):
    again = CertificateAuthority.open(tmp_path, keyring=keyring)
    assert again.trust_bundle() == ca.trust_bundle()
    assert again.active_root_id == ca.active_root_id


def test_reopening_with_another_master_key_fails_at_open(tmp_path, ca):
    with pytest.raises(SecretError):
        CertificateAuthority.open(tmp_path, keyring=Keyring(MasterKey.generate()))


def test_leaf_carries_the_spiffe_id_and_lives_24h_by_default(ca):
    leaf = ca.issue_leaf("inventory", "inventory-1")
    (cert,) = certs_from_pem(leaf.cert_pem)
    assert leaf.spiffe_id == "spiffe://baton.local/svc/inventory"
    assert spiffe_id_of(cert) == leaf.spiffe_id
    assert spiffe_id_of(leaf.cert_pem) == leaf.spiffe_id
    lifetime = cert.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < lifetime <= timedelta(hours=24)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    verify_client(leaf, ca.trust_bundle())


def test_half_life_is_the_renewal_point(ca):
    leaf = ca.issue_leaf("order", "order-1", ttl=timedelta(hours=2))
    assert leaf.renew_at() == leaf.not_before + (leaf.not_after - leaf.not_before) / 2
    assert leaf.renew_at() > datetime.now(UTC)


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1), timedelta(days=31)])
def test_leaf_ttl_outside_bounds_is_refused(ca, ttl):
    with pytest.raises(SecurityError, match="ttl"):
        ca.issue_leaf("order", "order-1", ttl=ttl)


@pytest.mark.parametrize("name", ["Order", "../etc", "", "a b", "x" * 64])
def test_invalid_service_names_are_refused(ca, name):
    with pytest.raises(SecurityError, match="invalid service name"):
        ca.issue_leaf(name, "i-1")


def test_leaf_round_trips_through_json_and_repr_hides_the_key(ca):
    leaf = ca.issue_leaf("order", "order-1")
    assert LeafCertificate.from_json(leaf.to_json()) == leaf
    assert "PRIVATE" not in repr(leaf)


def test_certificate_without_spiffe_uri_is_refused():
    root = make_root("no san", ttl=timedelta(days=1))
    with pytest.raises(SecurityError, match="no subject alternative name"):
        spiffe_id_of(root.cert)


def test_root_rotation_trusts_old_and_new_until_retired(tmp_path, ca, keyring):
    old_leaf = ca.issue_leaf("order", "order-1")
    old_root = ca.active_root_id
    new_root = ca.rotate_root()
    assert new_root != old_root
    assert len(certs_from_pem(ca.trust_bundle())) == 2
    new_leaf = ca.issue_leaf("order", "order-2")
    assert new_leaf.chain_pem != old_leaf.chain_pem
    both = ca.trust_bundle()
    verify_client(old_leaf, both)
    verify_client(new_leaf, both)
    # The rotation survives a restart of the control plane.
    assert CertificateAuthority.open(tmp_path, keyring=keyring).trust_bundle() == both

    assert ca.retire_roots() == [old_root]
    only_new = ca.trust_bundle()
    assert len(certs_from_pem(only_new)) == 1
    verify_client(new_leaf, only_new)
    with pytest.raises(VerificationError):
        verify_client(old_leaf, only_new)
    assert (tmp_path / "ca" / "bundle.pem").read_text() == only_new


def test_issuer_is_reminted_before_it_expires(ca, monkeypatch):
    first = ca.issue_leaf("order", "order-1")
    monkeypatch.setattr(ca_module, "ISSUER_REFRESH", timedelta(days=400))
    second = ca.issue_leaf("order", "order-1")
    assert second.chain_pem != first.chain_pem
    verify_client(second, ca.trust_bundle())


def test_expired_leaf_can_be_built_for_tests_and_fails_validation(ca):
    leaf = ca.issue_leaf("order", "order-1", ttl=timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=3))
    assert leaf.not_after < datetime.now(UTC)
    with pytest.raises(VerificationError):
        verify_client(leaf, ca.trust_bundle())


def test_prepared_root_is_trusted_before_it_issues(ca):
    old_root = ca.active_root_id
    before = ca.issue_leaf("order", "order-1")
    new_root = ca.prepare_root()
    assert ca.active_root_id == old_root
    assert len(certs_from_pem(ca.trust_bundle())) == 2
    assert ca.issue_leaf("order", "order-1").chain_pem == before.chain_pem  # still the old issuer
    ca.activate_root()
    assert ca.active_root_id == new_root
    verify_client(ca.issue_leaf("order", "order-1"), ca.trust_bundle())
    ca.retire_roots()
    with pytest.raises(SecurityError, match="unknown or retired"):
        ca.activate_root(old_root)
