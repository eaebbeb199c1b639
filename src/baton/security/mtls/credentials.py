"""An instance's TLS credentials (leaf + trust bundle), where they come from, and how they sit on disk.

The control plane issues an instance's first leaf before spawning it and writes it to
``<home>/certs/<instance>/`` (:meth:`Credentials.write`), so the instance can open its TLS listener before
anything else runs; from then on the instance's :class:`~baton.security.mtls.renewer.CertificateRenewer`
fetches fresh ones from a :class:`CertificateSource`.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import aiohttp

from baton.errors import ControlError, SecurityError
from baton.security.ca import LEAF_TTL, CertificateAuthority
from baton.security.certs import LeafCertificate
from baton.security.crypto import write_private


@dataclass(frozen=True, slots=True)
class Credentials:
    """A leaf certificate and the trust bundle that was current when it was issued."""

    leaf: LeafCertificate
    bundle_pem: str

    def write(self, directory: Path) -> None:
        """Write ``leaf.json`` plus ``cert.pem`` (full chain), ``key.pem`` and ``bundle.pem`` (for nats-server).

        Every file is replaced atomically and readable by the owner only.
        """
        write_private(directory / "leaf.json", json.dumps(self.leaf.to_json()))
        write_private(directory / "cert.pem", self.leaf.fullchain_pem)
        write_private(directory / "key.pem", self.leaf.key_pem)
        write_private(directory / "bundle.pem", self.bundle_pem)

    @classmethod
    def read(cls, directory: Path) -> Credentials:
        """Read what :meth:`write` wrote.

        Raises:
            SecurityError: the files are missing or malformed.
        """
        try:
            leaf = LeafCertificate.from_json(json.loads((directory / "leaf.json").read_text()))
            return cls(leaf, (directory / "bundle.pem").read_text())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SecurityError(f"no usable TLS credentials in {directory}: {type(exc).__name__}") from exc


class CertificateSource(Protocol):
    """Where an instance gets a fresh leaf and the current trust bundle."""

    async def fetch(self) -> Credentials:
        """Issue a new leaf for this instance.

        Raises:
            BatonError: the issuer refused or could not be reached (the renewer retries).
        """
        ...


class LocalCertificateSource:
    """Issues from a :class:`CertificateAuthority` in this process (the control plane itself; tests)."""

    def __init__(self, ca: CertificateAuthority, service: str, instance: str, *, ttl: timedelta = LEAF_TTL) -> None:
        self.ca, self.service, self.instance, self.ttl = ca, service, instance, ttl

    async def fetch(self) -> Credentials:
        """A leaf fresh from the local CA."""
        return Credentials(self.ca.issue_leaf(self.service, self.instance, ttl=self.ttl), self.ca.trust_bundle())


class ControlPlaneCertificateSource:
    """Asks the control plane: ``POST /v1/certificates`` (see :mod:`baton.security.api`).

    Authenticated by the admin ``token``, or — with ``ssl_context`` presenting the instance's current leaf, on
    the control plane's mutual-TLS listener — by that leaf: a service may renew its own identity only.
    """

    def __init__(
        self,
        base_url: str,
        *,
        service: str,
        instance: str,
        token: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ttl: timedelta = LEAF_TTL,
        timeout: float = 10.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/certificates"
        self.service, self.instance, self.ttl = service, instance, ttl
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def fetch(self) -> Credentials:
        """A leaf issued by the control plane.

        Raises:
            ControlError: the control plane is unreachable or refused.
        """
        body = {"service": self.service, "instance": self.instance, "ttl_seconds": int(self.ttl.total_seconds())}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(self.url, json=body, headers=self._headers, ssl=self._ssl) as answer,
            ):
                if answer.status != 200:
                    raise ControlError(f"control plane refused a certificate: HTTP {answer.status}")
                data = await answer.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ControlError(f"control plane unreachable for certificates: {type(exc).__name__}") from exc
        try:
            return Credentials(LeafCertificate.from_json(data["certificate"]), data["bundle"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ControlError("control plane answered a malformed certificate") from exc
