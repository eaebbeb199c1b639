"""The control plane's security routes over real HTTP, with the sources instances use to call them."""

from __future__ import annotations

import aiohttp
import pytest
from fastapi import FastAPI

from baton.errors import ControlError
from baton.kit.problems import install_problem_handlers
from baton.security.api import security_router
from baton.security.certs import certs_from_pem
from baton.security.mtls import ControlPlaneCertificateSource
from baton.security.tokens import ControlPlaneTokenSource, ServiceTokenProvider, TokenIssuer, TokenVerifier

from .conftest import serving

pytestmark = pytest.mark.integration

ADMIN = "admin-token-for-tests"


@pytest.fixture
def control(ca):
    issuer = TokenIssuer("placeholder")
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token = ADMIN
    app.include_router(security_router(ca, issuer))
    return app, issuer


async def test_instances_get_certificates_and_tokens_with_the_admin_token(ca, control):
    app, issuer = control
    async with serving(app) as url:
        issuer.issuer = url
        creds = await ControlPlaneCertificateSource(url, service="order", instance="order-7", token=ADMIN).fetch()
        assert creds.leaf.spiffe_id == "spiffe://baton.local/svc/order"
        assert creds.bundle_pem == ca.trust_bundle()
        provider = ServiceTokenProvider(ControlPlaneTokenSource(url, subject="order", token=ADMIN))
        token = await provider("inventory")
        verified = await TokenVerifier.for_issuer(url, "inventory").verify(token)
        assert verified.principal.subject == "order"
        async with aiohttp.ClientSession() as session, session.get(url + "/v1/ca/bundle") as answer:
            assert len(certs_from_pem(await answer.text())) == 1


@pytest.mark.parametrize("path", ["/v1/certificates", "/v1/tokens"])
async def test_issuing_routes_refuse_without_the_admin_token(control, path):
    app, _ = control
    body = {"service": "order", "instance": "o-1", "subject": "order", "audience": "inventory"}
    async with serving(app) as url, aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            async with session.post(url + path, json=body, headers=headers) as answer:
                assert answer.status == 401
                assert "PRIVATE" not in await answer.text()


async def test_sources_translate_refusals_into_control_errors(control):
    app, _ = control
    async with serving(app) as url:
        with pytest.raises(ControlError, match="HTTP 401"):
            await ControlPlaneCertificateSource(url, service="order", instance="o-1", token="wrong").fetch()
        with pytest.raises(ControlError, match="HTTP 401"):
            await ControlPlaneTokenSource(url, subject="order", token="wrong").issue("inventory")


MALFORMED = [b"", b"{not json", b"[]", b'{"subject": 7}', b'{"service": "order", "ttl_seconds": "forever"}']


@pytest.mark.parametrize("path", ["/v1/certificates", "/v1/tokens"])
async def test_issuing_routes_authenticate_before_they_read_the_body(control, path):
    app, _ = control
    async with serving(app) as url, aiohttp.ClientSession() as session:
        for raw in MALFORMED:
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                headers = {**headers, "Content-Type": "application/json"}
                async with session.post(url + path, data=raw, headers=headers) as answer:
                    assert answer.status == 401, (raw, headers, await answer.text())
                    assert answer.headers["Content-Type"].startswith("application/problem+json")
                    assert "ttl_seconds" not in await answer.text()
            # the admin, once known, learns what was wrong with the body
            admin = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
            async with session.post(url + path, data=raw, headers=admin) as answer:
                assert answer.status == 422, (raw, await answer.text())
                assert answer.headers["Content-Type"].startswith("application/problem+json")
