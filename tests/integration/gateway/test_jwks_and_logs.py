"""JWT verification against an issuer's JWKS (with key rotation), and the JSON access log."""

from __future__ import annotations

import io
import json
import time

import aiohttp
import jwt
import orjson
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from tests.integration.gateway.conftest import running_gateway

from baton.testing import wait_until

pytestmark = pytest.mark.integration


def jwk(key, kid):
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "alg": "ES256", "use": "sig"}


def sign(key, kid, **claims):
    now = int(time.time())
    base = {"iss": "https://issuer.test", "aud": "gateway", "sub": "carol", "exp": now + 120, "roles": ["ops"]}
    return jwt.encode({**base, **claims}, key, algorithm="ES256", headers={"kid": kid})


@pytest.fixture
async def jwks_server():
    keys = {"old": ec.generate_private_key(ec.SECP256R1())}
    published = {"keys": [jwk(keys["old"], "old")]}
    fetches = []

    async def handler(request):
        fetches.append(time.monotonic())
        return web.json_response(published)

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield {
        "url": f"http://127.0.0.1:{port}/.well-known/jwks.json",
        "keys": keys,
        "published": published,
        "fetches": fetches,
    }
    await runner.cleanup()


async def test_jwks_tokens_and_key_rotation(start_upstream, jwks_server, tmp_path, monkeypatch):
    from baton.gateway.policies import jwks as jwks_module

    monkeypatch.setattr(jwks_module, "MIN_REFRESH_INTERVAL", 0.0)
    port = await start_upstream("a")
    mapping = {
        "issuers": [
            {"name": "idp", "issuer": "https://issuer.test", "audience": "gateway", "jwks_url": jwks_server["url"]}
        ],
        "routes": [
            {"prefix": "/", "backends": [{"urls": [f"http://127.0.0.1:{port}"]}], "private": True, "roles": ["ops"]}
        ],
    }
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:
        assert len(jwks_server["fetches"]) == 1  # fetched at start
        old = jwks_server["keys"]["old"]
        async with http.get(f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {sign(old, 'old')}"}) as r:
            assert r.status == 200
        async with http.get(
            f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {sign(old, 'old', roles=[])}"}
        ) as r:
            assert r.status == 403
        # HS256 with the public key as secret (algorithm confusion) is refused: the list is fixed per issuer.
        forged = jwt.encode({"iss": "https://issuer.test", "aud": "gateway", "exp": 2**31}, "x" * 32, algorithm="HS256")
        async with http.get(f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {forged}"}) as r:
            assert r.status == 401
        # The issuer rotates: a token with a new kid makes the gateway refresh the JWKS once.
        new = ec.generate_private_key(ec.SECP256R1())
        jwks_server["published"]["keys"].append(jwk(new, "new"))
        async with http.get(f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {sign(new, 'new')}"}) as r:
            assert r.status == 200
        assert len(jwks_server["fetches"]) >= 2
        async with http.get(f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {sign(new, 'unknown')}"}) as r:
            assert r.status == 401
            assert "unknown key" in (await r.json())["detail"]


async def test_access_log_lines_are_json_with_ids(start_upstream, tmp_path):
    port = await start_upstream("a")
    stream = io.BytesIO()
    mapping = {
        "access_log": True,
        "routes": [{"name": "echo", "prefix": "/", "backends": [{"urls": [f"http://127.0.0.1:{port}"]}]}],
    }
    async with running_gateway(mapping, tmp_path, access_log=stream) as gw, aiohttp.ClientSession() as http:
        async with http.get(f"{gw.url}/v1/echo", headers={"X-Correlation-ID": "log-me"}) as r:
            assert r.status == 200
        await wait_until(lambda: b"log-me" in stream.getvalue(), timeout=5)
    line = next(orjson.loads(ln) for ln in stream.getvalue().splitlines() if b"log-me" in ln)
    assert line["route"] == "echo"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["correlation_id"] == "log-me"
    assert len(line["trace_id"]) == 32
    assert len(line["span_id"]) == 16
    assert line["upstream"]


@pytest.fixture
async def flaky_jwks():
    """A JWKS endpoint that answers 503 until ``state["up"]`` is set."""
    key = ec.generate_private_key(ec.SECP256R1())
    state = {"up": False, "fetches": 0}

    async def handler(request):
        state["fetches"] += 1
        if not state["up"]:
            return web.Response(status=503, text="identity starting")
        return web.json_response({"keys": [jwk(key, "k1")]})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield {"url": f"http://127.0.0.1:{port}/.well-known/jwks.json", "key": key, "state": state}
    await runner.cleanup()


def jwks_mapping(url, port, **extra):
    return {
        "issuers": [{"name": "idp", "issuer": "https://issuer.test", "audience": "gateway", "jwks_url": url}],
        "routes": [
            {"prefix": "/", "backends": [{"urls": [f"http://127.0.0.1:{port}"]}], "private": True, "roles": ["ops"]}
        ],
        **extra,
    }


async def readiness(http, gw):
    async with http.get(f"{gw.url}/readyz") as r:
        return r.status, await r.json()


async def test_readyz_waits_for_the_first_jwks_load(start_upstream, flaky_jwks, tmp_path):
    port = await start_upstream("a")
    async with (
        running_gateway(jwks_mapping(flaky_jwks["url"], port), tmp_path) as gw,
        aiohttp.ClientSession() as http,
    ):
        status, body = await readiness(http, gw)
        assert status == 503
        assert body["checks"]["jwks"] == f"waiting for the first load of {flaky_jwks['url']}"
        flaky_jwks["state"]["up"] = True  # the identity service came up: the key watcher's retry loads the keys

        async def ready():
            return (await readiness(http, gw))[0] == 200

        await wait_until(ready, timeout=10)
        assert await readiness(http, gw) == (200, {"status": "ready", "checks": {"all": "ok"}})
        token = sign(flaky_jwks["key"], "k1")
        async with http.get(f"{gw.url}/v1/echo", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200


async def test_readyz_stops_waiting_for_a_jwks_that_never_loads(start_upstream, flaky_jwks, tmp_path):
    port = await start_upstream("a")
    mapping = jwks_mapping(flaky_jwks["url"], port, jwks_ready_timeout=0.2)
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:

        async def ready():
            return (await readiness(http, gw))[0] == 200

        await wait_until(ready, timeout=10)
        status, body = await readiness(http, gw)
        assert (status, body["status"]) == (200, "ready")
        assert body["checks"]["jwks"] == f"never loaded (its tokens are refused): {flaky_jwks['url']}"
        assert flaky_jwks["state"]["fetches"] >= 1


async def test_an_issuer_added_by_a_reload_never_takes_a_serving_gateway_out_of_rotation(
    start_upstream, jwks_server, flaky_jwks, tmp_path
):
    from baton.gateway import parse_config

    port = await start_upstream("a")
    mapping = jwks_mapping(jwks_server["url"], port)
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:
        # (no /readyz before the reload: the first load settles readiness whether or not anyone asked)
        second = {"name": "idp2", "issuer": "https://other.test", "audience": "gateway", "jwks_url": flaky_jwks["url"]}
        await gw.reload(
            parse_config(
                {
                    **mapping,
                    "issuers": [*mapping["issuers"], second],
                    "access_log": False,
                    "quota_db": str(tmp_path / "q.db"),
                }
            )
        )
        status, body = await readiness(http, gw)
        assert (status, body["status"]) == (200, "ready")
        assert body["checks"]["jwks"] == f"never loaded (its tokens are refused): {flaky_jwks['url']}"
