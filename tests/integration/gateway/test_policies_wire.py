"""The policy chain over real sockets: exact statuses and headers, spoofing, lying bodies, filtering, caching."""

from __future__ import annotations

import time

import aiohttp
import jwt
import pytest
from tests.integration.gateway.conftest import raw_request, running_gateway

pytestmark = pytest.mark.integration

SECRET = "wire-test-secret-0123456789abcdef0123456789"


def token(**claims):
    now = int(time.time())
    base = {"iss": "https://id.shop", "aud": "gateway", "sub": "alice", "exp": now + 300, "scope": "orders:read"}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


def config(port, **route):
    return {
        "issuers": [{"name": "shop", "issuer": "https://id.shop", "audience": "gateway", "secret": SECRET}],
        "api_keys": [{"consumer": "robot", "key": "robot-key", "scopes": ["orders:read"]}],
        "trusted_proxies": ["127.0.0.1/32"],
        "routes": [{"prefix": "/v1", "backends": [{"urls": [f"http://127.0.0.1:{port}"]}], **route}],
    }


async def test_full_chain_accept_and_each_reject(start_upstream, tmp_path):
    port = await start_upstream("a")
    route = {
        "allow": ["127.0.0.0/8", "198.51.100.0/24"],
        "auth": "jwt",
        "scopes": ["orders:read"],
        "rate_limit": {"consumer": "3/minute"},
    }
    async with running_gateway(config(port, **route), tmp_path) as gw, aiohttp.ClientSession() as http:
        url = f"{gw.url}/v1/echo"
        good = {"Authorization": f"Bearer {token()}"}
        async with http.get(url, headers=good) as r:
            assert r.status == 200
            assert r.headers["RateLimit-Limit"] == "3"
            assert r.headers["RateLimit-Remaining"] == "2"
            seen = {k.lower(): v for k, v in (await r.json())["headers"].items()}
            assert seen["x-baton-consumer"] == "alice"
        async with http.get(url) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"] == 'Bearer realm="baton"'
        async with http.get(url, headers={"Authorization": f"Bearer {token(exp=int(time.time()) - 300)}"}) as r:
            assert r.status == 401
            assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        async with http.get(url, headers={"Authorization": f"Bearer {token(scope='other')}"}) as r:
            assert r.status == 403
            assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
        async with http.get(url, headers={"X-API-Key": "robot-key"}) as r:
            assert r.status == 200
        # The trusted proxy (127.0.0.1) forwards a caller outside the allowlist.
        async with http.get(url, headers={**good, "X-Forwarded-For": "203.0.113.5"}) as r:
            assert r.status == 403
        # A spoofed left-hand entry does not help: the rightmost untrusted address is the caller.
        async with http.get(url, headers={**good, "X-Forwarded-For": "127.0.0.1, 203.0.113.5"}) as r:
            assert r.status == 403
        async with http.get(url, headers={**good, "X-Forwarded-For": "198.51.100.4"}) as r:
            assert r.status == 200
            assert (await r.json())["headers"]["X-Forwarded-For"] == "198.51.100.4, 127.0.0.1"
        async with http.get(url, headers=good) as r:
            assert r.status == 200  # rejected requests above took no tokens: this is alice's third
            assert r.headers["RateLimit-Remaining"] == "0"
        async with http.get(url, headers=good) as r:
            assert r.status == 429
            assert r.content_type == "application/problem+json"
            assert int(r.headers["Retry-After"]) >= 1
            assert r.headers["RateLimit-Remaining"] == "0"
            assert r.headers["RateLimit-Policy"] == "3;w=60"


async def test_xff_from_an_untrusted_peer_is_ignored(start_upstream, tmp_path):
    port = await start_upstream("a")
    mapping = config(port, allow=["10.0.0.0/8"])
    mapping["trusted_proxies"] = ["10.0.0.0/8"]  # the test client (127.0.0.1) is not a trusted proxy
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:
        response = await http.get(f"{gw.url}/v1/echo", headers={"X-Forwarded-For": "10.1.2.3"})
        assert response.status == 403


async def test_daily_quota(start_upstream, tmp_path):
    port = await start_upstream("a")
    async with running_gateway(config(port, quota={"per_day": 2}), tmp_path) as gw, aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(3):
            async with http.get(f"{gw.url}/v1/echo", headers={"X-API-Key": "robot-key"}) as r:
                statuses.append(r.status)
                last = r
        assert statuses == [200, 200, 429]
        assert 0 < int(last.headers["Retry-After"]) <= 86_400


# -- request bodies ----------------------------------------------------------------------------------------


def post(path, body=b"", headers=()):
    lines = [f"POST {path} HTTP/1.1", "Host: gw", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def test_oversized_lying_and_missing_content_length(start_upstream, tmp_path):
    port = await start_upstream("a")
    mapping = {**config(port), "max_body": 1000, "client_timeout": 1}
    async with running_gateway(mapping, tmp_path) as gw:
        # Honest but too large: refused from the header alone.
        data = await raw_request(gw.port, post("/v1/echo", b"", ["Content-Length: 5000"]))
        assert data.startswith(b"HTTP/1.1 413")
        assert b"connection: close" in data
        # Chunked (no Content-Length): cut off once 1000 bytes went by.
        chunk = b"%x\r\n%s\r\n" % (600, b"y" * 600)
        data = await raw_request(gw.port, post("/v1/echo", chunk * 3 + b"0\r\n\r\n", ["Transfer-Encoding: chunked"]))
        assert data.startswith(b"HTTP/1.1 413")
        # Lying low: the extra bytes are parsed as a next request, which is garbage -> 400 after the first answer.
        data = await raw_request(gw.port, post("/v1/echo", b"0123456789EXTRA-BYTES", ["Content-Length: 10"]))
        assert data.startswith(b"HTTP/1.1 200")
        assert b'"body_length":10' in data.replace(b" ", b"")
        assert b"HTTP/1.1 400" in data
        # Lying high: the body never completes -> 408 after client_timeout, connection closed.
        started = time.monotonic()
        data = await raw_request(gw.port, post("/v1/echo", b"short", ["Content-Length: 500"]))
        assert b"HTTP/1.1 408" in data
        assert time.monotonic() - started < 5
        # Within limits: fine.
        data = await raw_request(gw.port, post("/v1/echo", b"z" * 900, ["Content-Length: 900", "Connection: close"]))
        assert data.startswith(b"HTTP/1.1 200")


async def test_deep_json_and_content_type(start_upstream, tmp_path):
    port = await start_upstream("a")
    route = {"validation": {"json_depth": 10, "content_types": ["application/json"]}}
    async with running_gateway(config(port, **route), tmp_path) as gw, aiohttp.ClientSession() as http:
        url = f"{gw.url}/v1/echo"
        deep = "[" * 50 + "]" * 50
        async with http.post(url, data=deep, headers={"content-type": "application/json"}) as r:
            assert r.status == 400
            assert "deeper than 10" in (await r.json())["detail"]
        async with http.post(url, data='{"a": [[1]]}', headers={"content-type": "application/json"}) as r:
            assert r.status == 200
            assert (await r.json())["body"] == '{"a": [[1]]}'
        async with http.post(url, data="a=1", headers={"content-type": "application/x-www-form-urlencoded"}) as r:
            assert r.status == 415


# -- answers -----------------------------------------------------------------------------------------------


async def test_internal_fields_and_stack_traces_never_pass(start_upstream, tmp_path):
    port = await start_upstream("a")
    route = {"filter": {"internal_fields": ["cost_price"]}}
    async with running_gateway(config(port, **route), tmp_path) as gw, aiohttp.ClientSession() as http:
        async with http.get(f"{gw.url}/v1/internal") as r:
            assert await r.json() == {"id": 7, "name": "pen", "supplier": {}}
        async with http.get(f"{gw.url}/v1/error") as r:
            assert r.status == 500
            body = await r.text()
            assert "Traceback" not in body
            assert "/srv/app.py" not in body
            assert r.content_type == "application/problem+json"
            assert (await r.json())["correlation_id"] == r.headers["X-Correlation-ID"]


async def test_cache_with_etag_and_if_none_match(start_upstream, tmp_path):
    port = await start_upstream("a")
    async with running_gateway(config(port, cache={"ttl": 60}), tmp_path) as gw, aiohttp.ClientSession() as http:
        url = f"{gw.url}/v1/cached"
        async with http.get(url) as r:
            assert r.headers["X-Cache"] == "MISS"
            etag = r.headers["ETag"]
            first = await r.json()
        async with http.get(url) as r:
            assert r.headers["X-Cache"] == "HIT"
            assert await r.json() == first  # the upstream was not asked again
        async with http.get(url, headers={"If-None-Match": etag}) as r:
            assert r.status == 304
            assert await r.read() == b""
        async with http.get(url + "?other=1") as r:
            assert (await r.json())["hits"] == 2
