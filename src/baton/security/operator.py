"""Calling instances directly as an operator (tests, benchmarks, scripts) when they serve mutual TLS.

Instances under ``baton up`` accept only Baton certificates plus a service token. An operator holding the
admin token asks the control plane for both, in the name of the ``operator`` identity (or of any service,
``as_service=``, to exercise a route that only that service may call)::

    access = OperatorAccess.for_control(control_url, admin_token)
    with access.client() as http:                                  # httpx.Client, cert + token per target
        http.get(instance_url + "/v1/stock/p-1")
    async with access.async_client() as http: ...
    await nats.connect(nats_url, tls=access.nats_context())

The target service of a request is found from its address through ``GET /v1/instances`` (cached; refreshed
on an unknown address); its token comes from ``POST /v1/tokens`` and is reused until 30 s before expiry.
The operator identity is admitted by NATS and by every route that has no ``allow:`` list of its own.

For a person rather than a script (``baton cert operator``), :func:`export_operator_certificate` writes a
short-lived operator leaf to a directory: PEM files for curl and a PKCS#12 bundle for a browser, so an
instance's ``/docs`` opens there (the docs need the certificate, not a service token)::

    exported = export_operator_certificate(control_url, admin_token, Path("operator"))
    # curl --cert operator/cert.pem --key operator/key.pem --cacert operator/bundle.pem https://127.0.0.1:7701/docs
"""

from __future__ import annotations

import os
import secrets
import ssl
import threading
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from baton.errors import ControlError
from baton.security.certs import LeafCertificate, certs_from_pem, key_from_pem
from baton.security.mtls.contexts import MtlsContext, client_context, in_trust_domain, only
from baton.security.mtls.credentials import Credentials
from baton.security.wiring import NATS_SERVICE, TOKEN_HEADER

OPERATOR = "operator"

EXPORT_TTL = timedelta(hours=12)
"""How long an exported operator certificate is valid: a working day, then ask for a new one."""


def request_certificate(
    control_url: str,
    admin_token: str,
    *,
    service: str = OPERATOR,
    instance: str | None = None,
    ttl: timedelta | None = None,
) -> Credentials:
    """A fresh leaf of ``service`` (and the trust bundle) from the control plane's CA, asked with the admin token.

    Raises:
        ControlError: the control plane refused or is unreachable.
    """
    body: dict[str, Any] = {"service": service, "instance": instance or f"{service}-{os.getpid()}"}
    if ttl is not None:
        body["ttl_seconds"] = int(ttl.total_seconds())
    try:
        answer = httpx.post(
            control_url.rstrip("/") + "/v1/certificates",
            json=body,
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise ControlError(f"control plane unreachable for a certificate: {exc}") from exc
    if answer.status_code != 200:
        raise ControlError(f"control plane refused a certificate: HTTP {answer.status_code}")
    data = answer.json()
    return Credentials(LeafCertificate.from_json(data["certificate"]), data["bundle"])


@dataclass(frozen=True, slots=True)
class ExportedCertificate:
    """Where :func:`export_operator_certificate` put an operator's credentials, and the PKCS#12 password."""

    directory: Path
    cert: Path
    """The leaf and its issuer (PEM): ``curl --cert``."""
    key: Path
    """Its private key (PEM, unencrypted, owner-only): ``curl --key``."""
    ca: Path
    """The trust bundle (the roots instances chain to): ``curl --cacert``."""
    pkcs12: Path
    """Certificate, chain and key in one file for a browser's or the system's certificate store."""
    password: str = field(repr=False)
    """The PKCS#12 file's password: random, shown once, stored nowhere."""
    spiffe_id: str
    not_after: datetime


def export_operator_certificate(
    control_url: str, admin_token: str, directory: Path, *, ttl: timedelta = EXPORT_TTL, name: str = "baton operator"
) -> ExportedCertificate:
    """Ask the control plane for an operator leaf valid ``ttl`` and write it to ``directory`` (owner-only files).

    Writes ``cert.pem`` (leaf + issuer), ``key.pem``, ``bundle.pem`` (the CA), ``leaf.json`` and ``operator.p12``
    (encrypted with AES-256 under a fresh random password, which only the returned value holds; ``name`` is its
    friendly name in a certificate store).

    Raises:
        ControlError: the control plane refused or is unreachable.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

    credentials = request_certificate(control_url, admin_token, instance=f"{OPERATOR}-export-{os.getpid()}", ttl=ttl)
    credentials.write(directory)
    leaf = credentials.leaf
    password = secrets.token_urlsafe(18)
    # PBES2 with AES-256 and an SHA-256 MAC: what current browsers and OS keychains import (not legacy RC2/3DES).
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode("ascii"))
    )
    cert, *chain = certs_from_pem(leaf.fullchain_pem)
    bundle = pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), key_from_pem(leaf.key_pem), cert, chain, encryption
    )
    p12 = directory / "operator.p12"
    p12.unlink(missing_ok=True)  # a fresh file, created owner-only (never a moment with wider permissions)
    with os.fdopen(os.open(p12, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(bundle)
    return ExportedCertificate(
        directory=directory,
        cert=directory / "cert.pem",
        key=directory / "key.pem",
        ca=directory / "bundle.pem",
        pkcs12=p12,
        password=password,
        spiffe_id=leaf.spiffe_id,
        not_after=leaf.not_after,
    )


class OperatorAccess:
    """A leaf and service tokens for calling instances as ``service`` (default ``operator``).

    Args:
        control_url: the control plane's operator API (``http://127.0.0.1:7700``).
        admin_token: the content of ``.baton/admin-token``.
        credentials: the leaf to present (see :meth:`for_control`, which fetches one).
    """

    def __init__(self, control_url: str, admin_token: str, credentials: Credentials, *, service: str = OPERATOR):
        self.control_url = control_url.rstrip("/")
        self.service = service
        self.credentials = credentials
        self._headers = {"Authorization": f"Bearer {admin_token}"}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._services: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_control(cls, control_url: str, admin_token: str, *, service: str = OPERATOR) -> OperatorAccess:
        """Ask the control plane for a leaf of ``service``.

        Raises:
            ControlError: the control plane refused or is unreachable.
        """
        return cls(
            control_url, admin_token, request_certificate(control_url, admin_token, service=service), service=service
        )

    def ssl_context(self, target: str | None = None) -> MtlsContext:
        """A client context presenting the leaf; accepts ``target``'s identity only (``None``: any Baton
        service)."""
        expect = in_trust_domain if target is None else only(target)
        return client_context(self.credentials.leaf, self.credentials.bundle_pem, expect=expect)

    def nats_context(self) -> ssl.SSLContext:
        """The context for ``nats.connect(url, tls=...)``."""
        return self.ssl_context(NATS_SERVICE)

    def auth(self) -> httpx.Auth:
        """An ``httpx.Auth`` adding ``X-Baton-Service-Token`` for each request's target service."""
        return _TokenAuth(self)

    def client(self, **options: Any) -> httpx.Client:
        """An ``httpx.Client`` with the leaf and the token auth (``options`` go to ``httpx.Client``)."""
        options.setdefault("timeout", 30)
        return httpx.Client(verify=self.ssl_context(), auth=self.auth(), **options)

    def async_client(self, **options: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` like :meth:`client`."""
        options.setdefault("timeout", 30)
        return httpx.AsyncClient(verify=self.ssl_context(), auth=self.auth(), **options)

    # -- tokens ---------------------------------------------------------------------------------------------------

    def target_of(self, url: httpx.URL) -> str | None:
        """The service listening at ``url``'s address (``None``: not an instance of this system)."""
        address = f"{url.host}:{url.port}"
        with self._lock:
            known = self._services.get(address)
        if known is not None:
            return known
        answer = httpx.get(self.control_url + "/v1/instances", headers=self._headers, timeout=30)
        answer.raise_for_status()
        services: dict[str, str] = {}
        for view in answer.json():
            parts = urlsplit(str(view.get("url", "")))
            services[f"{parts.hostname}:{parts.port}"] = str(view["service"])
        with self._lock:
            self._services.update(services)
            return self._services.get(address)

    def token_for(self, audience: str) -> str:
        """A service token from ``service`` to ``audience`` (cached until 30 s before expiry)."""
        with self._lock:
            cached = self._tokens.get(audience)
        if cached is not None and cached[1] - 30 > time.time():
            return cached[0]
        answer = httpx.post(
            self.control_url + "/v1/tokens",
            json={"subject": self.service, "audience": audience},
            headers=self._headers,
            timeout=30,
        )
        if answer.status_code != 200:
            raise ControlError(f"control plane refused a service token: HTTP {answer.status_code}")
        data = answer.json()
        with self._lock:
            self._tokens[audience] = (str(data["token"]), float(data["expires_at"]))
        return str(data["token"])


class _TokenAuth(httpx.Auth):
    def __init__(self, access: OperatorAccess) -> None:
        self.access = access

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._sign(request)
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not self._sign_from_cache(request):
            import anyio

            # The lookups are blocking httpx calls on the (plain, local) control plane; keep them off the loop.
            await anyio.to_thread.run_sync(self._sign, request)
        yield request

    def _sign_from_cache(self, request: httpx.Request) -> bool:
        if request.url.scheme != "https" or TOKEN_HEADER in request.headers:
            return True
        access = self.access
        target = access._services.get(f"{request.url.host}:{request.url.port}")
        cached = access._tokens.get(target) if target is not None else None
        if cached is None or cached[1] - 30 <= time.time():
            return False
        request.headers[TOKEN_HEADER] = cached[0]
        return True

    def _sign(self, request: httpx.Request) -> None:
        if request.url.scheme != "https" or TOKEN_HEADER in request.headers:
            return
        target = self.access.target_of(request.url)
        if target is not None:
            request.headers[TOKEN_HEADER] = self.access.token_for(target)
