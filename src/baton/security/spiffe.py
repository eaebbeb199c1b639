"""SPIFFE-style identities: ``spiffe://baton.local/svc/<service>``.

A peer is authorized by the one URI SAN of its certificate, never by its hostname: hostnames and IPs are
where a service runs today, the SPIFFE ID is who it is. An X.509-SVID carries exactly one URI SAN; a certificate
with none or several is refused rather than guessed at.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cryptography import x509

from baton.errors import SecurityError

TRUST_DOMAIN = "baton.local"
"""Trust domain of every identity the Baton CA issues."""
SERVICE_PREFIX = f"spiffe://{TRUST_DOMAIN}/svc/"
"""Prefix of a service identity; the service name follows."""
ANY_SERVICE = "*"
"""In allow lists: any service of the trust domain."""

_SERVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62})$")


def spiffe_id(service: str) -> str:
    """The identity of ``service`` (``inventory`` → ``spiffe://baton.local/svc/inventory``).

    Raises:
        SecurityError: the name is not a valid service name (lower case letters, digits, ``.-_``; ≤ 63 chars).
    """
    if not _SERVICE_NAME.match(service):
        raise SecurityError(f"invalid service name for an identity: {service!r}")
    return SERVICE_PREFIX + service


def service_of(identity: str) -> str | None:
    """The service name of a Baton identity, or ``None`` when ``identity`` is not one."""
    if not identity.startswith(SERVICE_PREFIX):
        return None
    name = identity[len(SERVICE_PREFIX) :]
    return name if _SERVICE_NAME.match(name) else None


def spiffe_id_of(cert: x509.Certificate | bytes | str) -> str:
    """The SPIFFE ID in ``cert`` (a certificate object, DER bytes or PEM text).

    Raises:
        SecurityError: the certificate cannot be parsed or does not hold exactly one ``spiffe://`` URI SAN.
    """
    if isinstance(cert, str):
        try:
            cert = x509.load_pem_x509_certificate(cert.encode("ascii"))
        except ValueError as exc:
            raise SecurityError("peer certificate is not valid PEM") from exc
    elif isinstance(cert, bytes):
        return _spiffe_id_of_der(cert)
    return _spiffe_id_of_cert(cert)


@lru_cache(maxsize=1024)
def _spiffe_id_of_der(der: bytes) -> str:
    # Cached by DER: the server parses a peer's certificate once per connection, and peers reconnect often.
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise SecurityError("peer certificate is not valid DER") from exc
    return _spiffe_id_of_cert(cert)


def _spiffe_id_of_cert(cert: x509.Certificate) -> str:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise SecurityError("certificate has no subject alternative name, hence no SPIFFE ID") from exc
    uris = [uri for uri in san.get_values_for_type(x509.UniformResourceIdentifier) if uri.startswith("spiffe://")]
    if len(uris) != 1:
        raise SecurityError(f"certificate must hold exactly one spiffe:// URI SAN, found {len(uris)}")
    return str(uris[0])
