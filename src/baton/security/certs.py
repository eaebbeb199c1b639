"""X.509 building blocks of the Baton CA: key pairs, the root, the issuer (intermediate) and leaf certificates.

Every key is ECDSA P-256 (fast handshakes, small certificates, supported by every TLS stack we talk to).
Certificates are backdated by :data:`BACKDATE` so a peer whose clock runs a little behind does not refuse a
certificate that was just issued.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BACKDATE = timedelta(minutes=5)
"""``notBefore`` lies this far before the issue time (tolerates clock skew); at most a quarter of the ttl."""

PrivateKey = ec.EllipticCurvePrivateKey


def new_key() -> PrivateKey:
    """A fresh ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_to_pem(key: PrivateKey) -> str:
    """PKCS#8 PEM of ``key``, unencrypted (callers seal it or keep it in memory)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def key_from_pem(text: str) -> PrivateKey:
    """Load a P-256 key written by :func:`key_to_pem`."""
    key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("CA keys must be ECDSA keys")
    return key


def cert_to_pem(cert: x509.Certificate) -> str:
    """PEM text of ``cert``."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certs_from_pem(text: str) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, in order."""
    return x509.load_pem_x509_certificates(text.encode("ascii")) if text.strip() else []


def fingerprint(cert: x509.Certificate) -> str:
    """Short id of a certificate: the first 16 hex digits of its SHA-256 fingerprint."""
    return cert.fingerprint(hashes.SHA256()).hex()[:16]


@dataclass(frozen=True, slots=True)
class LeafCertificate:
    """What an instance needs to speak mTLS: its certificate, the issuer chain, and its key (PEM).

    ``repr`` never shows the key. ``to_json``/``from_json`` is the wire form of ``POST /v1/certificates``.
    """

    spiffe_id: str
    cert_pem: str
    """The leaf certificate alone."""
    chain_pem: str
    """The issuing CA certificate(s) a peer needs to build the path to a root (not the root itself)."""
    key_pem: str = field(repr=False)
    not_before: datetime
    not_after: datetime

    @property
    def fullchain_pem(self) -> str:
        """Leaf followed by its chain: what a TLS endpoint presents."""
        return self.cert_pem + self.chain_pem

    def renew_at(self, fraction: float = 0.5) -> datetime:
        """When ``fraction`` of the validity window has passed (0.5: the half-life)."""
        return self.not_before + (self.not_after - self.not_before) * fraction

    def to_json(self) -> dict[str, str]:
        """JSON-ready form (the key included: only ever sent to the instance it was issued for)."""
        return {
            "spiffe_id": self.spiffe_id,
            "cert_pem": self.cert_pem,
            "chain_pem": self.chain_pem,
            "key_pem": self.key_pem,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> LeafCertificate:
        """Parse :meth:`to_json` output.

        Raises:
            KeyError, ValueError: a field is missing or malformed.
        """
        return cls(
            spiffe_id=data["spiffe_id"],
            cert_pem=data["cert_pem"],
            chain_pem=data["chain_pem"],
            key_pem=data["key_pem"],
            not_before=datetime.fromisoformat(data["not_before"]),
            not_after=datetime.fromisoformat(data["not_after"]),
        )


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate and its private key. ``repr`` never shows the key."""

    cert: x509.Certificate
    key: PrivateKey = field(repr=False)


def _base(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: datetime, ttl: timedelta
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Short-lived leaves are backdated less, so their half-life still lies after the moment of issue.
        .not_valid_before(now - min(BACKDATE, ttl / 4))
        .not_valid_after(now + ttl)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "baton"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def make_root(common_name: str, *, ttl: timedelta, now: datetime | None = None) -> IssuedCertificate:
    """A self-signed root CA that may sign one level of intermediates."""
    now = now or datetime.now(UTC)
    key = new_key()
    name = _name(common_name)
    cert = (
        _base(name, name, key.public_key(), now, ttl)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(key, hashes.SHA256())
    )
    return IssuedCertificate(cert, key)


def make_intermediate(
    common_name: str, parent: IssuedCertificate, *, ttl: timedelta, now: datetime | None = None
) -> IssuedCertificate:
    """An issuing CA signed by ``parent`` that may sign leaves only (path length 0)."""
    now = now or datetime.now(UTC)
    key = new_key()
    ttl = min(ttl, parent.cert.not_valid_after_utc - now)  # never outlive the root that vouches for it
    cert = (
        _base(_name(common_name), parent.cert.subject, key.public_key(), now, ttl)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(_aki(parent), critical=False)
        .sign(parent.key, hashes.SHA256())
    )
    return IssuedCertificate(cert, key)


def make_leaf(
    common_name: str,
    uri: str,
    parent: IssuedCertificate,
    *,
    ttl: timedelta,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    now: datetime | None = None,
) -> IssuedCertificate:
    """An end-entity certificate for both TLS roles (server and client) with ``uri`` as its SPIFFE ID."""
    now = now or datetime.now(UTC)
    key = new_key()
    ttl = min(ttl, parent.cert.not_valid_after_utc - now)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    names += [x509.DNSName(name) for name in dns]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        _base(_name(common_name), parent.cert.subject, key.public_key(), now, ttl)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        # An SVID's identity is its URI SAN; the subject stays informational, so the SAN is critical only when
        # the subject is empty (RFC 5280 §4.2.1.6) — ours never is.
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(_aki(parent), critical=False)
        .sign(parent.key, hashes.SHA256())
    )
    return IssuedCertificate(cert, key)


def _aki(parent: IssuedCertificate) -> x509.AuthorityKeyIdentifier:
    ski = parent.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
