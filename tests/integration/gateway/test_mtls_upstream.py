"""Mutual-TLS upstreams: with the process's Baton leaf the gateway reaches ``https`` instances with its client
certificate, expects the target's SPIFFE ID, sends a service token for it, and picks up a renewed leaf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.integration.gateway.conftest import running_gateway
from tests.security.conftest import serving

from baton.security.ca import CertificateAuthority
from baton.security.crypto import Keyring, MasterKey
from baton.security.mtls.authorization import SpiffeAuthorization
from baton.security.mtls.contexts import server_context
from baton.security.mtls.credentials import Credentials
from baton.security.spiffe import ANY_SERVICE
from baton.security.tokens.issuer import TokenIssuer
from baton.security.tokens.jwks import StaticJwksFetcher
from baton.security.tokens.middleware import ServiceTokenAuth
from baton.security.tokens.provider import LocalTokenSource
from baton.security.tokens.verifier import TokenVerifier
from baton.security.wiring import TOKEN_HEADER, InstanceSecurity

pytestmark = pytest.mark.integration

ISSUER = "https://control.test"


class LocalCertificates:
    """A certificate source issuing straight from a CA (the control plane's job under ``baton up``)."""

    def __init__(self, ca: CertificateAuthority, service: str) -> None:
        self.ca, self.service = ca, service

    async def fetch(self) -> Credentials:
        return Credentials(self.ca.issue_leaf(self.service, f"{self.service}-1"), self.ca.trust_bundle())


def inventory_app(verifier: TokenVerifier) -> Any:
    """An upstream guarded like a kit service under ``baton up``: client certificate, then service token."""

    async def stock(request: Request) -> JSONResponse:
        tls = request.scope["extensions"]["tls"]
        return JSONResponse(
            {
                "peer": tls["spiffe_id"],
                "peer_cert": tls["client_cert_chain"][0],
                "token_subject": request.state.principal.subject,
                "authorization": request.headers.get("authorization"),
            }
        )

    app = Starlette(routes=[Route("/v1/stock", stock)])
    return SpiffeAuthorization(ServiceTokenAuth(app, verifier, header=TOKEN_HEADER), allow={"/": [ANY_SERVICE]})


async def test_gateway_reaches_an_mtls_upstream_with_its_identity_and_a_service_token(tmp_path: Path) -> None:
    ca = CertificateAuthority.open(tmp_path / "home", keyring=Keyring(MasterKey.generate()))
    issuer = TokenIssuer(ISSUER)
    verifier = TokenVerifier(ISSUER, StaticJwksFetcher(issuer.jwks), audience="inventory")
    upstream_tls = server_context(ca.issue_leaf("inventory", "inventory-1"), ca.trust_bundle())
    security = InstanceSecurity(
        "gateway",
        Credentials(ca.issue_leaf("gateway", "gateway-1"), ca.trust_bundle()),
        certificates=LocalCertificates(ca, "gateway"),
        tokens=LocalTokenSource(issuer, subject="gateway"),
    )
    async with serving(inventory_app(verifier), context=upstream_tls) as base_url:
        mapping = {
            "services": {"inventory": [base_url], "impostor": [base_url]},
            "routes": [
                {"name": "stock", "prefix": "/stock", "version": "v1", "service": "inventory"},
                # Same instance, but the gateway expects another identity than the certificate proves.
                {"name": "impostor", "prefix": "/impostor", "version": "v1", "service": "impostor"},
            ],
        }
        async with running_gateway(mapping, tmp_path, security=security) as gw, aiohttp.ClientSession() as http:
            headers = {"Authorization": "Bearer end-user-token", TOKEN_HEADER: "forged-by-the-client"}
            async with http.get(f"{gw.url}/v1/stock", headers=headers) as r:
                assert r.status == 200, await r.text()
                seen = await r.json()
            assert seen["peer"] == "spiffe://baton.local/svc/gateway"
            assert seen["token_subject"] == "gateway"
            assert seen["authorization"] == "Bearer end-user-token"  # the user's token still travels as is
            assert seen["peer_cert"].strip() == security.credentials.leaf.cert_pem.strip()
            first_cert = seen["peer_cert"]

            # An instance whose certificate is not the expected service's is refused at the handshake.
            async with http.get(f"{gw.url}/v1/impostor/v1/stock") as r:
                assert r.status == 502

            # Renewal hot-swaps the leaf: connections opened afterwards present the new certificate.
            await security.renewer.renew()
            assert gw.state is not None
            gw.state.pool.close_all()
            async with http.get(f"{gw.url}/v1/stock") as r:
                assert r.status == 200, await r.text()
                renewed = await r.json()
            assert renewed["peer_cert"] != first_cert
            assert renewed["peer_cert"].strip() == security.credentials.leaf.cert_pem.strip()
            assert renewed["token_subject"] == "gateway"


async def test_plain_upstreams_never_receive_a_service_token(tmp_path: Path, start_upstream: Any) -> None:
    ca = CertificateAuthority.open(tmp_path / "home", keyring=Keyring(MasterKey.generate()))
    issuer = TokenIssuer(ISSUER)
    security = InstanceSecurity(
        "gateway",
        Credentials(ca.issue_leaf("gateway", "gateway-1"), ca.trust_bundle()),
        certificates=LocalCertificates(ca, "gateway"),
        tokens=LocalTokenSource(issuer, subject="gateway"),
    )
    port = await start_upstream("plain")
    mapping = {"routes": [{"prefix": "/", "backends": [{"urls": [f"http://127.0.0.1:{port}"]}]}]}
    async with running_gateway(mapping, tmp_path, security=security) as gw, aiohttp.ClientSession() as http:
        answer = await http.get(f"{gw.url}/v1/echo", headers={TOKEN_HEADER: "forged"})
        assert answer.status == 200
        echoed = {k.lower(): v for k, v in (await answer.json())["headers"].items()}
    assert TOKEN_HEADER.lower() not in echoed
