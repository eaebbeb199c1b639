"""The TLS HTTP protocol: the ASGI ``tls`` extension, and header/body coalescing that never holds a stream back."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from baton.security.mtls import client_context, server_context

from .conftest import serving

pytestmark = pytest.mark.integration


@pytest.fixture
def contexts(ca):
    server = server_context(ca.issue_leaf("inventory", "inventory-1"), ca.trust_bundle())
    client = client_context(ca.issue_leaf("order", "order-1"), ca.trust_bundle())
    return server, client


async def test_scope_carries_the_asgi_tls_extension(contexts):
    async def tls(request: Request) -> JSONResponse:
        ext = request.scope["extensions"]["tls"]
        return JSONResponse(
            {k: ext[k] for k in ("tls_version", "spiffe_id")} | {"chain": len(ext["client_cert_chain"])}
        )

    server, client = contexts
    async with (
        serving(Starlette(routes=[Route("/tls", tls)]), context=server) as url,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client)) as session,
        session.get(url + "/tls") as answer,
    ):
        body = await answer.json()
    assert body == {"tls_version": 0x0304, "spiffe_id": "spiffe://baton.local/svc/order", "chain": 1}


async def test_streamed_headers_are_not_held_back_until_the_body(contexts):
    release = asyncio.Event()

    async def chunks():
        yield b"first;"
        await release.wait()  # the body continues only once the client has seen the headers
        yield b"second"

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    server, client = contexts
    async with (
        serving(Starlette(routes=[Route("/stream", stream)]), context=server) as url,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client)) as session,
        session.get(url + "/stream", timeout=aiohttp.ClientTimeout(total=5)) as answer,
    ):
        assert answer.status == 200
        assert await answer.content.readexactly(6) == b"first;"
        release.set()
        assert await answer.read() == b"second"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_connection_close_and_head_answers_arrive_whole(contexts, method):
    async def closing(request: Request) -> Response:
        return Response(b"x" * 100_000, headers={"Connection": "close"})

    server, client = contexts
    async with (
        serving(Starlette(routes=[Route("/close", closing, methods=["GET", "HEAD"])]), context=server) as url,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client)) as session,
    ):
        for _ in range(3):
            async with session.request(method, url + "/close") as answer:
                assert answer.status == 200
                assert answer.headers["Content-Length"] == "100000"
                assert len(await answer.read()) == (100_000 if method == "GET" else 0)
