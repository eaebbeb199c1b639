"""Mutual TLS between Baton services: contexts, the ASGI TLS extension, SPIFFE authorization, renewal.

Serving (the kit's ``serve`` wires this when the instance has credentials)::

    creds = Credentials.read(home / "certs" / instance)
    context = server_context(creds.leaf, creds.bundle_pem)
    renewer = CertificateRenewer(source, initial=creds, store=home / "certs" / instance)
    renewer.attach(context)                                   # hot swap at half-life
    app = SpiffeAuthorization(app, allow={"/v1/reservations": ["order"]})
    uvicorn.Config(app, **uvicorn_tls_options(context), ...)

Calling: ``aiohttp.TCPConnector(ssl=client_context(creds.leaf, creds.bundle_pem, expect=only("inventory")))``
(attach that context to the renewer too).
"""

from baton.security.mtls.asgi import TlsHttpToolsProtocol, tls_extension, uvicorn_tls_options
from baton.security.mtls.authorization import AccessRules, SpiffeAuthorization
from baton.security.mtls.contexts import (
    MtlsContext,
    PeerCheck,
    PeerCheckedSSLObject,
    add_trust,
    client_context,
    in_trust_domain,
    install_leaf,
    only,
    server_context,
)
from baton.security.mtls.credentials import (
    CertificateSource,
    ControlPlaneCertificateSource,
    Credentials,
    LocalCertificateSource,
)
from baton.security.mtls.nats import nats_tls_block
from baton.security.mtls.renewer import CertificateRenewer, RenewalPolicy

__all__ = [
    "AccessRules",
    "CertificateRenewer",
    "CertificateSource",
    "ControlPlaneCertificateSource",
    "Credentials",
    "LocalCertificateSource",
    "MtlsContext",
    "PeerCheck",
    "PeerCheckedSSLObject",
    "RenewalPolicy",
    "SpiffeAuthorization",
    "TlsHttpToolsProtocol",
    "add_trust",
    "client_context",
    "in_trust_domain",
    "install_leaf",
    "nats_tls_block",
    "only",
    "server_context",
    "tls_extension",
    "uvicorn_tls_options",
]
