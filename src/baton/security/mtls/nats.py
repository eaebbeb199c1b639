"""Mutual TLS for NATS: the server's ``tls`` block, and who may connect, by SPIFFE ID.

The embedded server (or a cluster) gets the block below in its configuration; every connection then needs a
client certificate from the Baton CA, and ``verify_and_map`` turns the certificate's URI SAN into the NATS
user — so the allowed services are listed by SPIFFE ID, never by address::

    tls {
      cert_file: ".baton/certs/nats/cert.pem"   # a leaf for the "nats" service (Credentials.write)
      key_file:  ".baton/certs/nats/key.pem"
      ca_file:   ".baton/certs/nats/bundle.pem"
      verify_and_map: true
    }
    authorization { users = [ {user: "spiffe://baton.local/svc/order"}, ... ] }

Clients connect with the instance's client context: ``nats.connect(url, tls=client_context(leaf, bundle,
expect=only("nats")))`` and attach that context to the instance's renewer like any other.

nats-server reads its files only at start (or on ``--signal reload``): after renewing the server's own leaf,
rewrite the files (``Credentials.write``) and reload the server; clients hot-swap on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from baton.security.spiffe import spiffe_id


def nats_tls_block(credentials: Path, *, services: Iterable[str] | None = None, timeout: float = 2.0) -> str:
    """The ``tls`` (and, with ``services``, ``authorization``) configuration for nats-server.

    Args:
        credentials: directory written by :meth:`~baton.security.mtls.credentials.Credentials.write`.
        services: services allowed to connect (``None``: any holder of a Baton certificate).
        timeout: seconds the server allows for a TLS handshake.
    """
    lines = [
        "tls {",
        f'  cert_file: "{credentials / "cert.pem"}"',
        f'  key_file: "{credentials / "key.pem"}"',
        f'  ca_file: "{credentials / "bundle.pem"}"',
        "  verify_and_map: true" if services is not None else "  verify: true",
        f"  timeout: {timeout}",
        "}",
    ]
    if services is not None:
        users = ", ".join(f'{{user: "{spiffe_id(name)}"}}' for name in services)
        lines.append(f"authorization {{ users = [ {users} ] }}")
    return "\n".join(lines) + "\n"
