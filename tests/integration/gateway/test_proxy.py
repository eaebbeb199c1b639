"""The proxy over real sockets: forwarding, streaming, framing, ids, errors and the gateway's own endpoints."""

from __future__ import annotations

import datetime
import ssl

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.integration.gateway.conftest import raw_request, running_gateway

pytestmark = pytest.mark.integration


def route(port, **extra):
    return {"routes": [{"prefix": "/", "backends": [{"urls": [f"http://127.0.0.1:{port}"]}], **extra}]}


async def test_forwards_and_sets_identity_headers(start_upstream, tmp_path):
    port = await start_upstream("a")
    async with running_gateway(route(port), tmp_path) as gw, aiohttp.ClientSession() as http:
        headers = {
            "X-Correlation-ID": "abc-123",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "X-Forwarded-For": "6.6.6.6",  # from an untrusted peer: dropped
            "X-Baton-Consumer": "root",  # a client may not claim an identity
            "X-Forwarded-Proto": "https",  # nor a scheme
        }
        async with http.get(f"{gw.url}/v1/echo/x?q=1", headers=headers) as response:
            assert response.status == 200
            assert response.headers["X-Correlation-ID"] == "abc-123"
            seen = (await response.json())["headers"]
        assert seen["X-Correlation-ID"] == "abc-123"
        assert seen["X-Forwarded-For"] == "127.0.0.1"
        assert "X-Baton-Consumer" not in seen
        assert "X-Forwarded-Proto" not in seen  # plain HTTP on both sides: the upstream's own scheme is the client's
        trace = seen["traceparent"].split("-")
        assert trace[1] == "0af7651916cd43dd8448eb211c80319c"  # same trace
        assert trace[2] != "b7ad6b7169203331"  # the gateway's own span is the parent now
        async with http.get(f"{gw.url}/v1/echo") as response:
            minted = response.headers["X-Correlation-ID"]
            assert minted
            assert (await response.json())["headers"]["X-Correlation-ID"] == minted


async def test_bodies_stream_both_ways_with_keep_alive_reuse(start_upstream, tmp_path):
    port = await start_upstream("a")
    async with running_gateway({**route(port), "max_body": "8MiB"}, tmp_path) as gw, aiohttp.ClientSession() as http:
        big = b"x" * (3 * 1024 * 1024 + 17)

        async def chunks():
            for i in range(0, len(big), 100_000):
                yield big[i : i + 100_000]

        async with http.post(f"{gw.url}/v1/echo", data=chunks(), headers={"content-type": "text/plain"}) as r:
            assert r.status == 200
            assert (await r.json())["body_length"] == len(big)
        async with http.post(f"{gw.url}/v1/echo", data=b"hello") as r:
            assert (await r.json())["body"] == "hello"
        async with http.get(f"{gw.url}/v1/stream") as r:
            assert r.headers.get("Transfer-Encoding") == "chunked"
            assert await r.read() == b"part-0;part-1;part-2;part-3;part-4;"
        async with http.head(f"{gw.url}/v1/echo") as r:
            assert r.status == 200
        for _ in range(5):
            async with http.get(f"{gw.url}/v1/echo") as r:
                assert r.status == 200
        assert gw.state is not None
        assert gw.state.pool.opened <= 3  # keep-alive upstream connections are reused


async def test_pipelined_requests_are_answered_in_order(start_upstream, tmp_path):
    port = await start_upstream("a")
    async with running_gateway(route(port), tmp_path) as gw:
        request = b"GET /v1/echo/%d HTTP/1.1\r\nHost: x\r\n\r\n"
        last = b"GET /v1/echo/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        data = await raw_request(gw.port, request % 1 + request % 2 + last)
        assert data.count(b"HTTP/1.1 200 OK") == 3
        assert data.index(b"/v1/echo/1") < data.index(b"/v1/echo/2") < data.index(b"/v1/echo/3")


async def test_gateway_errors_are_problem_json(start_upstream, tmp_path):
    port = await start_upstream("a")
    config = {
        "routes": [{"prefix": "/v1/echo", "backends": [{"urls": [f"http://127.0.0.1:{port}"]}], "methods": ["GET"]}]
    }
    async with running_gateway(config, tmp_path) as gw, aiohttp.ClientSession() as http:
        async with http.get(f"{gw.url}/nowhere") as r:
            assert r.status == 404
            assert r.content_type == "application/problem+json"
            problem = await r.json()
            assert problem["status"] == 404
            assert problem["correlation_id"] == r.headers["X-Correlation-ID"]
        async with http.delete(f"{gw.url}/v1/echo") as r:
            assert r.status == 405
            assert r.headers["Allow"] == "GET"
        data = await raw_request(gw.port, b"BLAH\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 400")
        assert b"problem+json" in data


async def test_upstream_down_is_502_and_no_instances_is_503(tmp_path):
    config = {
        "services": {"ghost": ["http://127.0.0.1:1"]},
        "routes": [
            {"prefix": "/down", "service": "ghost", "retry": False},
            {"prefix": "/none", "service": "unknown"},
        ],
    }
    async with running_gateway(config, tmp_path) as gw, aiohttp.ClientSession() as http:
        async with http.get(f"{gw.url}/down") as r:
            assert r.status == 502
            assert (await r.json())["title"] == "Bad Gateway"
        async with http.get(f"{gw.url}/none") as r:
            assert r.status == 503


async def test_livez_readyz_metrics(start_upstream, tmp_path):
    port = await start_upstream("a")
    async with running_gateway(route(port, name="everything"), tmp_path) as gw, aiohttp.ClientSession() as http:
        async with http.get(f"{gw.url}/v1/echo") as r:
            assert r.status == 200
        async with http.get(f"{gw.url}/livez") as r:
            assert r.status == 200
        async with http.get(f"{gw.url}/readyz") as r:
            assert r.status == 200
            assert (await r.json())["status"] == "ready"
        async with http.get(f"{gw.url}/metrics") as r:
            text = await r.text()
        line = next(
            ln
            for ln in text.splitlines()
            if ln.startswith("http_server_request_duration_seconds_count") and 'route="everything"' in ln
        )
        assert 'method="GET"' in line
        assert 'status="200"' in line
        assert line.endswith(" 1.0")
        assert (
            'baton_gateway_consumer_requests_total{consumer="anonymous",route="everything",status_class="2xx"}' in text
        )


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_tls_listener(start_upstream, tmp_path):
    port = await start_upstream("a")
    cert, key = self_signed(tmp_path)
    config = {**route(port), "tls_cert": str(cert), "tls_key": str(key)}
    context = ssl.create_default_context(cafile=str(cert))
    async with running_gateway(config, tmp_path) as gw, aiohttp.ClientSession() as http:
        assert gw.url.startswith("https://")
        async with http.get(f"{gw.url}/v1/echo", ssl=context) as r:
            assert r.status == 200
            assert (await r.json())["headers"]["X-Forwarded-Proto"] == "https"
