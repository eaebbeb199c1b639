"""Real HTTP for gateway tests: aiohttp upstreams on free ports and a gateway in front of them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from baton.gateway import Gateway, parse_config


def upstream_app(name: str) -> web.Application:
    """An upstream with one handler per behaviour the tests need."""
    state = {"flaky": 0}

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "instance": name,
                "method": request.method,
                "path": request.path_qs,
                "headers": dict(request.headers),
                "body_length": len(body),
                "body": body.decode("latin-1")[:200],
            }
        )

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "2")))
        return web.json_response({"instance": name, "slow": True})

    async def error(request: web.Request) -> web.Response:
        trace = 'Traceback (most recent call last):\n  File "/srv/app.py", line 12, in handler\nKeyError: x'
        return web.Response(status=500, text=trace)

    async def internal(request: web.Request) -> web.Response:
        return web.json_response({"id": 7, "name": "pen", "cost_price": 1.2, "supplier": {"cost_price": 1.0}})

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(5):
            await response.write(b"part-%d;" % i)
        await response.write_eof()
        return response

    async def flaky(request: web.Request) -> web.Response:
        state["flaky"] += 1
        if state["flaky"] % 2 == 1:
            return web.json_response({"error": "try again"}, status=503)
        return web.json_response({"instance": name, "try": state["flaky"]})

    async def cached(request: web.Request) -> web.Response:
        state["cached"] = state.get("cached", 0) + 1
        return web.json_response({"instance": name, "hits": state["cached"]})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/v1/echo{tail:.*}", echo)
    app.router.add_get("/v1/slow", slow)
    app.router.add_get("/v1/error", error)
    app.router.add_get("/v1/internal", internal)
    app.router.add_get("/v1/stream", stream)
    app.router.add_get("/v1/flaky", flaky)
    app.router.add_get("/v1/cached", cached)
    return app


StartUpstream = Callable[[str], Awaitable[int]]


@pytest.fixture
async def start_upstream() -> AsyncIterator[StartUpstream]:
    """Start named upstreams on free ports; returns the port. All are stopped at the end."""
    runners: list[web.AppRunner] = []

    async def start(name: str = "up") -> int:
        runner = web.AppRunner(upstream_app(name), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        server = site._server
        assert server is not None
        return int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    yield start
    for runner in runners:
        with contextlib.suppress(Exception):
            await runner.cleanup()


@contextlib.asynccontextmanager
async def running_gateway(mapping: dict[str, Any], tmp_path: Path, **options: Any) -> AsyncIterator[Gateway]:
    """A gateway for ``mapping`` on a free port, quotas under ``tmp_path``, access logs off unless asked."""
    mapping = {"access_log": False, "quota_db": str(tmp_path / "quotas.db"), **mapping}
    async with Gateway(parse_config(mapping), home=tmp_path, **options).serve("127.0.0.1", 0) as gateway:
        yield gateway


async def raw_request(port: int, data: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send raw bytes and read until the server closes (or ``read_timeout``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    chunks = []
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        async with asyncio.timeout(read_timeout):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return b"".join(chunks)
