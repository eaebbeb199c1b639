"""User tokens from an EdDSA issuer's JWKS (the shop's identity service): verified once per token, a flood of
unknown key ids costs no extra fetches, and scheduled refreshes drop withdrawn keys."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from tests.integration.gateway.conftest import running_gateway

from baton.security.tokens.issuer import TokenIssuer
from baton.security.tokens.keys import SigningKey
from baton.testing import wait_until

pytestmark = pytest.mark.integration

ISSUER = "http://identity.test"


@pytest.fixture
async def identity() -> Any:
    """A JWKS endpoint publishing a :class:`TokenIssuer`'s keys (what identity's /.well-known/jwks.json does)."""
    issuer = TokenIssuer(ISSUER)
    state: dict[str, Any] = {"issuer": issuer, "withdrawn": set()}

    async def jwks(request: web.Request) -> web.Response:
        keys = [k for k in issuer.jwks()["keys"] if k["kid"] not in state["withdrawn"]]
        return web.json_response({"keys": keys})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/.well-known/jwks.json"  # type: ignore[union-attr]
    yield state
    await runner.cleanup()


def user_token(issuer: TokenIssuer, **claims: Any) -> str:
    return issuer.issue(sub="alice", aud="gateway", ttl=600, scopes=["orders:read"], claims=claims)


async def test_eddsa_tokens_are_verified_once_and_unknown_kids_cannot_amplify_fetches(
    identity: Any, start_upstream: Any, tmp_path: Path
) -> None:
    port = await start_upstream("a")
    mapping = {
        "issuers": [{"name": "identity", "issuer": ISSUER, "audience": "gateway", "jwks_url": identity["url"]}],
        "routes": [
            {"prefix": "/", "backends": [{"urls": [f"http://127.0.0.1:{port}"]}], "scopes": ["orders:read"]},
        ],
    }
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:
        assert gw.state is not None
        authenticator = gw.state.authenticator
        (keys,) = authenticator.jwks.values()
        assert keys.fetches == 1  # at start
        verified: list[bytes] = []
        verify = authenticator.verify

        def counting(token: bytes, allowed: frozenset[str]) -> Any:
            verified.append(token)
            return verify(token, allowed)

        authenticator.verify = counting  # type: ignore[method-assign]
        token = user_token(identity["issuer"])
        for _ in range(3):
            async with http.get(f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200
                echoed = {k.lower(): v for k, v in (await r.json())["headers"].items()}
                assert echoed["x-baton-consumer"] == "alice"
        assert len(verified) == 1  # then answered from the token cache until the token's exp

        # Tokens naming key ids the JWKS does not hold: refused, and at most one refresh per 10 s.
        stranger = SigningKey.generate()
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": "gateway", "sub": "mallory", "exp": now + 600, "scope": "orders:read"}

        async def forged(i: int) -> int:
            fake = jwt.encode(claims, stranger.private, algorithm="EdDSA", headers={"kid": f"made-up-{i}"})
            async with http.get(f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {fake}"}) as r:
                return r.status

        assert await asyncio.gather(*(forged(i) for i in range(20))) == [401] * 20
        assert keys.fetches == 1


async def test_scheduled_refresh_drops_a_withdrawn_key(identity: Any, start_upstream: Any, tmp_path: Path) -> None:
    port = await start_upstream("a")
    issuer: TokenIssuer = identity["issuer"]
    mapping = {
        "issuers": [
            {
                "name": "identity",
                "issuer": ISSUER,
                "audience": "gateway",
                "jwks_url": identity["url"],
                "jwks_refresh": 1.0,
            }
        ],
        "routes": [{"prefix": "/", "backends": [{"urls": [f"http://127.0.0.1:{port}"]}], "auth": "jwt"}],
    }
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:
        assert gw.state is not None
        (keys,) = gw.state.authenticator.jwks.values()
        async with http.get(f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {user_token(issuer)}"}) as r:
            assert r.status == 200
        identity["withdrawn"].add(issuer.active_kid)
        fetched = keys.fetches
        await wait_until(lambda: keys.fetches > fetched and issuer.active_kid not in keys.keys, timeout=10)
        # A new token signed with the withdrawn key no longer verifies.
        async with http.get(f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {user_token(issuer)}"}) as r:
            assert r.status == 401
