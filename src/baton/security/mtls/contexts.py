"""``ssl.SSLContext`` builders for mutual TLS between Baton services, and the hot swap of their leaf.

Both sides present a leaf issued by the Baton CA and verify the peer's chain against the trust bundle. Host
names are *not* checked (``check_hostname`` off): an instance's address says where it runs, not who it is.
Instead the peer's SPIFFE ID is checked right after the handshake by :class:`PeerCheckedSSLObject`, which
the contexts built here install as their ``sslobject_class`` — asyncio and uvloop both create their TLS
objects through ``SSLContext.wrap_bio``, so the check runs on every connection of every server and client.

Hot swap: :func:`install_leaf` loads a new chain into the *same* context. OpenSSL copies the certificate
into each connection when it is created, so open connections keep the old one and new ones get the new one.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from baton.errors import SecurityError
from baton.security.certs import LeafCertificate
from baton.security.spiffe import SERVICE_PREFIX, spiffe_id, spiffe_id_of

PeerCheck = Callable[[str], bool]
"""``(peer SPIFFE ID) -> allowed?``, run once per connection right after the handshake."""

MIN_TLS = ssl.TLSVersion.TLSv1_2
"""Oldest protocol version accepted by both sides."""


def in_trust_domain(identity: str) -> bool:
    """Peer check accepting any Baton service identity (the per-route allow lists refine it)."""
    return identity.startswith(SERVICE_PREFIX)


def only(*services: str) -> PeerCheck:
    """Peer check accepting exactly the identities of ``services`` (e.g. a client expecting its target)."""
    allowed = frozenset(spiffe_id(s) for s in services)
    return allowed.__contains__


class PeerCheckedSSLObject(ssl.SSLObject):
    """An ``SSLObject`` that refuses the connection when the peer's SPIFFE ID fails the context's check.

    Its ``read``, ``write`` and ``pending`` are the C methods of the underlying ``_ssl`` object (the stdlib's
    are one-line Python wrappers around them): the record layer calls them for every read and write.
    """

    @classmethod
    def _create(cls, *args: Any, **kwargs: Any) -> PeerCheckedSSLObject:
        self = super()._create(*args, **kwargs)  # type: ignore[misc]  # private stdlib constructor of SSLObject
        inner = self._sslobj
        # Same positional signatures as SSLObject.read(len, buffer) / write(data) / pending().
        self.read, self.write, self.pending = inner.read, inner.write, inner.pending
        return self  # type: ignore[no-any-return]

    def do_handshake(self) -> None:
        """Run the TLS handshake, then the SPIFFE ID check.

        Raises:
            ssl.SSLCertVerificationError: the peer's identity is missing or not allowed.
        """
        super().do_handshake()
        check: PeerCheck | None = getattr(self.context, "peer_check", None)
        if check is None:
            return
        der = self.getpeercert(binary_form=True)
        if der is None:
            # Only reachable on a server with CERT_OPTIONAL; ours require a certificate.
            raise ssl.SSLCertVerificationError("peer presented no certificate")
        try:
            identity = spiffe_id_of(der)
        except SecurityError as exc:
            raise ssl.SSLCertVerificationError(f"peer certificate has no usable SPIFFE ID: {exc}") from None
        if not check(identity):
            raise ssl.SSLCertVerificationError(f"peer identity {identity} is not allowed here")


class MtlsContext(ssl.SSLContext):
    """An ``SSLContext`` carrying a :data:`PeerCheck` (``None``: chain verification only)."""

    sslobject_class = PeerCheckedSSLObject
    peer_check: PeerCheck | None = None


def server_context(leaf: LeafCertificate, bundle_pem: str, *, peers: PeerCheck | None = in_trust_domain) -> MtlsContext:
    """A server context: presents ``leaf``, requires a client certificate chaining to ``bundle_pem``.

    Args:
        peers: which client identities may even connect; per-route rules belong in
            :class:`~baton.security.mtls.authorization.SpiffeAuthorization`.
    """
    context = MtlsContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED
    # No TLS 1.3 session tickets: asyncio and aiohttp clients never resume a session, so minting two tickets
    # per handshake (OpenSSL's default) is work thrown away; every connection authenticates in full.
    context.num_tickets = 0
    return _finish(context, leaf, bundle_pem, peers)


def client_context(
    leaf: LeafCertificate | None, bundle_pem: str, *, expect: PeerCheck | None = in_trust_domain
) -> MtlsContext:
    """A client context: presents ``leaf`` (when given), verifies the server's chain and SPIFFE ID.

    Args:
        leaf: ``None`` builds a context without a client certificate (what an attacker would use; tests).
        expect: which server identities are acceptable (:func:`only` ``("inventory")`` for one target).
    """
    context = MtlsContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # identity is the SPIFFE ID, checked by PeerCheckedSSLObject
    context.verify_mode = ssl.CERT_REQUIRED
    return _finish(context, leaf, bundle_pem, expect)


def _finish(
    context: MtlsContext, leaf: LeafCertificate | None, bundle_pem: str, check: PeerCheck | None
) -> MtlsContext:
    context.minimum_version = MIN_TLS
    context.peer_check = check
    context.load_verify_locations(cadata=bundle_pem)
    if leaf is not None:
        install_leaf(context, leaf)
    return context


def install_leaf(context: ssl.SSLContext, leaf: LeafCertificate) -> None:
    """Make ``context`` present ``leaf`` on every *new* connection (open connections keep theirs).

    Raises:
        SecurityError: the key does not match the certificate or the PEM is broken.
    """
    with _pem_file(leaf.key_pem + leaf.fullchain_pem) as path:
        try:
            context.load_cert_chain(path)
        except ssl.SSLError as exc:
            raise SecurityError(f"cannot load the leaf certificate of {leaf.spiffe_id}: {exc.reason}") from exc


def add_trust(context: ssl.SSLContext, bundle_pem: str) -> None:
    """Trust the roots in ``bundle_pem`` too (roots already trusted stay trusted: a context only grows).

    A retired root is dropped by building a new context (at the next restart); until then it stays valid
    but no new leaf chains to it.
    """
    context.load_verify_locations(cadata=bundle_pem)


@contextlib.contextmanager
def _pem_file(text: str) -> Iterator[str]:
    # ``load_cert_chain`` only reads paths. An anonymous memory file keeps the private key off the disk.
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("baton-leaf", os.MFD_CLOEXEC)
        try:
            os.write(fd, text.encode("ascii"))
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    handle = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)  # noqa: SIM115 - closed below
    try:
        with handle:
            os.chmod(handle.name, 0o600)
            handle.write(text)
        yield handle.name
    finally:
        os.unlink(handle.name)
