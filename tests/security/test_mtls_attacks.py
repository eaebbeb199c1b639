"""mTLS attacks against a real uvicorn server using the Baton server context and ``SpiffeAuthorization``.

Refused at the handshake (the app never sees the request): no client certificate, an expired one, one from a
foreign CA (even claiming a Baton identity). Refused by the route's allow list (403 problem+json): a valid
certificate whose SPIFFE ID the route does not allow. And the other direction: a client refuses a server
with a foreign or unexpected identity.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from baton.security.mtls import SpiffeAuthorization, client_context, only, server_context

from .conftest import Counting, hello_app, serving

pytestmark = pytest.mark.integration

RULES = {"/v1/stock": ["order"], "/v1/admin": []}


@pytest.fixture
def app():
    return Counting(SpiffeAuthorization(hello_app(), allow=RULES))


async def get(context, url: str) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.get(url) as answer,
    ):
        return answer.status, await answer.json(content_type=None)


async def test_authorized_peer_reaches_the_route_and_is_identified(ca, app):
    context = server_context(ca.issue_leaf("inventory", "inventory-1"), ca.trust_bundle())
    async with serving(app, context=context) as url:
        client = client_context(ca.issue_leaf("order", "order-1"), ca.trust_bundle(), expect=only("inventory"))
        status, body = await get(client, url + "/v1/stock/42")
    assert status == 200
    assert body["peer"] == "spiffe://baton.local/svc/order"


@pytest.mark.parametrize("case", ["no client certificate", "expired", "foreign CA", "foreign CA claiming order"])
async def test_handshake_refuses_bad_client_certificates(ca, foreign_ca, app, case):
    bundle = ca.trust_bundle()
    leaf = {
        "no client certificate": None,
        "expired": ca.issue_leaf(
            "order", "order-1", ttl=timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=2)
        ),
        "foreign CA": foreign_ca.issue_leaf("mallory", "mallory-1"),
        "foreign CA claiming order": foreign_ca.issue_leaf("order", "order-1"),
    }[case]
    context = server_context(ca.issue_leaf("inventory", "inventory-1"), bundle)
    async with serving(app, context=context) as url:
        with pytest.raises(aiohttp.ClientError):
            await get(client_context(leaf, bundle), url + "/v1/stock")
    assert app.paths == []  # refused before any HTTP was parsed


@pytest.mark.parametrize(
    ("service", "path", "status"),
    [
        ("catalog", "/v1/stock", 403),  # valid identity, not in the route's list
        ("order", "/v1/admin", 403),  # route allowing nobody
        ("order", "/v1/unlisted", 403),  # no rule: closed by default
        ("catalog", "/livez", 200),  # probes are exempt (the handshake still required a valid cert)
        ("order", "/v1/stockpile", 403),  # "/v1/stock" is not a string prefix of other routes
    ],
)
async def test_route_allow_lists_decide_by_spiffe_id(ca, app, service, path, status):
    context = server_context(ca.issue_leaf("inventory", "inventory-1"), ca.trust_bundle())
    async with serving(app, context=context) as url:
        got, body = await get(client_context(ca.issue_leaf(service, f"{service}-1"), ca.trust_bundle()), url + path)
    assert got == status
    if status == 403:
        assert body["type"] == "urn:baton:problem:peer-forbidden"
        assert "spiffe" not in body["detail"]


async def test_plain_http_listener_with_authorization_fails_closed(app):
    async with serving(app) as url, aiohttp.ClientSession() as session, session.get(url + "/v1/stock") as answer:
        assert answer.status == 401
        assert answer.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("case", ["foreign server", "unexpected server identity"])
async def test_client_refuses_a_server_it_should_not_trust(ca, foreign_ca, app, case):
    server_leaf = (
        foreign_ca.issue_leaf("inventory", "inventory-1")
        if case == "foreign server"
        else ca.issue_leaf("payment", "payment-1")
    )
    context = server_context(server_leaf, ca.trust_bundle() + foreign_ca.trust_bundle())
    async with serving(app, context=context) as url:
        client = client_context(ca.issue_leaf("order", "order-1"), ca.trust_bundle(), expect=only("inventory"))
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await get(client, url + "/v1/stock")
    assert app.paths == []
