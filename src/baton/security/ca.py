"""The control plane's certificate authority: a root (10 y), an issuing intermediate (1 y), leaves (24 h).

Everything lives in ``<home>/ca/``::

    ca.json                  which roots exist (and which are retired), which issuer is active
    root-<id>.pem            root certificates
    root-<id>.key.json       root keys, sealed with the master keyring (AES-GCM, see baton.security.crypto)
    issuer-<id>.pem          issuing (intermediate) certificates
    issuer-<id>.key.json     issuer keys, sealed the same way
    bundle.pem               the trust bundle: every root that is neither retired nor expired

Root rotation has three steps so no connection breaks: :meth:`~CertificateAuthority.prepare_root` adds a
new root to the trust bundle (instances pick it up with their next renewal); :meth:`~CertificateAuthority.
activate_root` makes new leaves chain to it while the bundle still carries the old root for leaves issued
before; once those have been renewed, :meth:`~CertificateAuthority.retire_roots` drops the old root.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from baton.errors import ConfigError, SecretError, SecurityError
from baton.security.certs import (
    IssuedCertificate,
    LeafCertificate,
    cert_to_pem,
    certs_from_pem,
    fingerprint,
    key_from_pem,
    key_to_pem,
    make_intermediate,
    make_leaf,
    make_root,
)
from baton.security.crypto import Keyring, Sealed, load_keyring, write_private
from baton.security.spiffe import spiffe_id, spiffe_id_of

__all__ = ["LEAF_TTL", "CertificateAuthority", "LeafCertificate", "spiffe_id_of"]

ROOT_TTL = timedelta(days=3650)
"""Lifetime of a root certificate (10 years)."""
ISSUER_TTL = timedelta(days=365)
"""Lifetime of an issuing intermediate (1 year)."""
ISSUER_REFRESH = timedelta(days=30)
"""A new issuer is minted when the active one has less than this left (so leaves never outlive it)."""
LEAF_TTL = timedelta(hours=24)
"""Default lifetime of a leaf certificate."""
MAX_LEAF_TTL = timedelta(days=30)
"""Upper bound on a requested leaf lifetime: short-lived certificates are the revocation story."""


@dataclass(frozen=True, slots=True)
class _RootEntry:
    id: str
    retired: bool = False


class CertificateAuthority:
    """Issues SPIFFE-identified leaf certificates from a root and an issuer kept in ``<home>/ca``.

    Open it with :meth:`open`; the constructor is for tests that bring their own pieces.
    """

    def __init__(self, directory: Path, keyring: Keyring) -> None:
        self.directory = directory
        self._keyring = keyring
        self._roots: list[_RootEntry] = []
        self._root_certs: dict[str, x509.Certificate] = {}
        self._issuer: IssuedCertificate | None = None
        self._issuer_id = ""
        self._issuer_root = ""

    @classmethod
    def open(cls, home: Path, *, keyring: Keyring | None = None) -> CertificateAuthority:
        """Load the CA from ``<home>/ca``, creating a root and an issuer on first use.

        Args:
            home: the Baton data directory (``.baton``).
            keyring: the master keyring sealing the CA keys; default: :func:`~baton.security.crypto.load_keyring`.

        Raises:
            SecretError: a CA key cannot be unsealed (wrong master key, tampered file).
            ConfigError: ``ca.json`` is unreadable.
        """
        if keyring is None:
            keyring, _ = load_keyring(home)
        ca = cls(home / "ca", keyring)
        if (ca.directory / "ca.json").exists():
            ca._load()
        else:
            ca.rotate_root()
        return ca

    # ---- issuing -------------------------------------------------------------------------------------------

    def issue_leaf(
        self,
        service: str,
        instance: str,
        *,
        ttl: timedelta = LEAF_TTL,
        dns: tuple[str, ...] = ("localhost",),
        ips: tuple[str, ...] = ("127.0.0.1",),
        now: datetime | None = None,
    ) -> LeafCertificate:
        """A leaf for ``instance`` of ``service`` with URI SAN ``spiffe://baton.local/svc/<service>``.

        Args:
            now: issue as of this moment instead of the current time (tests build expired leaves with it).

        Raises:
            SecurityError: invalid service name, or a ``ttl`` outside (0, 30 days].
        """
        if not timedelta(0) < ttl <= MAX_LEAF_TTL:
            raise SecurityError(f"leaf ttl must be within (0, {MAX_LEAF_TTL}], got {ttl}")
        identity = spiffe_id(service)
        issuer = self._fresh_issuer()
        leaf = make_leaf(instance or service, identity, issuer, ttl=ttl, dns=dns, ips=ips, now=now)
        return LeafCertificate(
            spiffe_id=identity,
            cert_pem=cert_to_pem(leaf.cert),
            chain_pem=cert_to_pem(issuer.cert),
            key_pem=key_to_pem(leaf.key),
            not_before=leaf.cert.not_valid_before_utc,
            not_after=leaf.cert.not_valid_after_utc,
        )

    def trust_bundle(self) -> str:
        """PEM of every root that is neither retired nor expired (old and new ones during a rotation)."""
        now = datetime.now(UTC)
        live = [
            self._root_certs[entry.id]
            for entry in self._roots
            if not entry.retired and self._root_certs[entry.id].not_valid_after_utc > now
        ]
        return "".join(cert_to_pem(cert) for cert in live)

    @property
    def active_root_id(self) -> str:
        """Id (fingerprint prefix) of the root new leaves chain to."""
        return self._issuer_root

    # ---- rotation ------------------------------------------------------------------------------------------

    def prepare_root(self) -> str:
        """Create a new root and put it in the trust bundle; leaves keep chaining to the current root.

        Step one of a rotation that breaks no connection: every instance picks the new bundle up with its
        next renewal (at the latest one half-life later), and only then :meth:`activate_root` makes new
        leaves chain to the new root.

        Returns:
            The id of the new root.
        """
        root = make_root(f"Baton root {datetime.now(UTC):%Y-%m-%d %H:%M:%S}", ttl=ROOT_TTL)
        root_id = fingerprint(root.cert)
        self._save_pair("root", root_id, root)
        self._roots.append(_RootEntry(root_id))
        self._root_certs[root_id] = root.cert
        self._save_state()
        return root_id

    def activate_root(self, root_id: str | None = None) -> None:
        """Issue from (a new issuer under) ``root_id``, by default the newest root.

        Raises:
            SecurityError: the root is unknown or retired.
        """
        root_id = root_id or self._roots[-1].id
        if not any(e.id == root_id and not e.retired for e in self._roots):
            raise SecurityError(f"root {root_id!r} is unknown or retired")
        self._new_issuer(root_id, self._load_pair("root", root_id))

    def rotate_root(self) -> str:
        """:meth:`prepare_root` and :meth:`activate_root` at once (instances must fetch the bundle first).

        Returns:
            The id of the new root.
        """
        root_id = self.prepare_root()
        self.activate_root(root_id)
        return root_id

    def retire_roots(self) -> list[str]:
        """Drop every root but the active one from the trust bundle (the end of a rotation).

        Returns:
            The ids of the roots retired now.
        """
        retired = [e.id for e in self._roots if not e.retired and e.id != self._issuer_root]
        self._roots = [_RootEntry(e.id, e.retired or e.id in retired) for e in self._roots]
        self._save_state()
        return retired

    # ---- internals -----------------------------------------------------------------------------------------

    def _fresh_issuer(self) -> IssuedCertificate:
        assert self._issuer is not None
        if self._issuer.cert.not_valid_after_utc - datetime.now(UTC) < ISSUER_REFRESH:
            self._new_issuer(self._issuer_root, self._load_pair("root", self._issuer_root))
        assert self._issuer is not None
        return self._issuer

    def _new_issuer(self, root_id: str, root: IssuedCertificate) -> None:
        issuer = make_intermediate(f"Baton issuer {datetime.now(UTC):%Y-%m-%d %H:%M:%S}", root, ttl=ISSUER_TTL)
        issuer_id = fingerprint(issuer.cert)
        self._save_pair("issuer", issuer_id, issuer)
        self._issuer, self._issuer_id, self._issuer_root = issuer, issuer_id, root_id
        self._save_state()

    def _save_pair(self, kind: str, item_id: str, pair: IssuedCertificate) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{kind}-{item_id}.pem").write_text(cert_to_pem(pair.cert))
        sealed = self._keyring.seal(key_to_pem(pair.key).encode("ascii"), aad=_aad(kind, item_id))
        write_private(self.directory / f"{kind}-{item_id}.key.json", json.dumps(sealed.to_json()))

    def _load_pair(self, kind: str, item_id: str) -> IssuedCertificate:
        (cert,) = certs_from_pem((self.directory / f"{kind}-{item_id}.pem").read_text())
        try:
            sealed = Sealed.from_json(json.loads((self.directory / f"{kind}-{item_id}.key.json").read_text()))
        except (OSError, ValueError) as exc:
            raise SecretError(f"cannot read the sealed {kind} key {item_id}") from exc
        key = key_from_pem(self._keyring.open(sealed, aad=_aad(kind, item_id)).decode("ascii"))
        return IssuedCertificate(cert, key)

    def _save_state(self) -> None:
        if not self._issuer_id:
            return  # first start: state is written once the first issuer exists
        state: dict[str, Any] = {
            "roots": [{"id": e.id, "retired": e.retired} for e in self._roots],
            "issuer": {"id": self._issuer_id, "root": self._issuer_root},
        }
        write_private(self.directory / "ca.json", json.dumps(state, indent=2) + "\n")
        (self.directory / "bundle.pem").write_text(self.trust_bundle())

    def _load(self) -> None:
        try:
            state = json.loads((self.directory / "ca.json").read_text())
            self._roots = [_RootEntry(r["id"], bool(r["retired"])) for r in state["roots"]]
            self._issuer_id, self._issuer_root = state["issuer"]["id"], state["issuer"]["root"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.directory / 'ca.json'} is unreadable: {exc}") from exc
        for entry in self._roots:
            (cert,) = certs_from_pem((self.directory / f"root-{entry.id}.pem").read_text())
            self._root_certs[entry.id] = cert
        self._issuer = self._load_pair("issuer", self._issuer_id)
        # Unsealing the active root proves the master key is the right one at start, not at the next rotation.
        self._load_pair("root", self._issuer_root)


def _aad(kind: str, item_id: str) -> bytes:
    # Binds each sealed key to its file name: a key file copied over another one fails to open.
    return f"baton-ca:{kind}-{item_id}".encode()
