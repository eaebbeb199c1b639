"""Fixtures of the attack suite: a CA, real uvicorn servers on free ports, and request-recording apps."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from baton.events.server import free_port
from baton.security.ca import CertificateAuthority
from baton.security.crypto import Keyring, MasterKey
from baton.security.mtls import uvicorn_tls_options
from baton.testing import wait_until


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    """A fresh Baton CA."""
    return CertificateAuthority.open(tmp_path / "home", keyring=Keyring(MasterKey.generate()))


@pytest.fixture
def foreign_ca(tmp_path: Path) -> CertificateAuthority:
    """Another CA, as an attacker would run: same trust-domain names, different keys."""
    return CertificateAuthority.open(tmp_path / "elsewhere", keyring=Keyring(MasterKey.generate()))


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, *, context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Run ``app`` under a real uvicorn on a free port (TLS over ``context`` when given); yield its base URL."""
    port = free_port()
    options: dict[str, Any] = uvicorn_tls_options(context) if context is not None else {}
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", access_log=False, **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started or task.done(), timeout=10)
        if task.done():
            task.result()
        yield f"{'https' if context else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class Recorder:
    """ASGI app that records every request it gets and answers ``payload`` (an attacker's key server)."""

    def __init__(self, payload: dict[str, Any] | None = None) -> None:
        self.payload = payload or {}
        self.requests: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.requests.append(scope["path"])
        await JSONResponse(self.payload)(scope, receive, send)


class Counting:
    """ASGI middleware counting requests per path (how often the issuer's JWKS was fetched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


async def whoami(request: Request) -> JSONResponse:
    """What the protected app knows about its caller."""
    tls = request.scope.get("extensions", {}).get("tls") or {}
    principal = request.scope.get("state", {}).get("principal")
    chain = tls.get("client_cert_chain") or []
    return JSONResponse(
        {
            "peer": tls.get("spiffe_id"),
            "principal": principal.subject if principal else None,
            "client_cert": chain[0] if chain else None,
        }
    )


def hello_app() -> Starlette:
    """``/v1/stock``, ``/v1/admin`` and ``/livez``, each answering :func:`whoami`."""
    return Starlette(routes=[Route(path, whoami) for path in ("/v1/stock", "/v1/stock/{sku}", "/v1/admin", "/livez")])


def short_leaf(ca: CertificateAuthority, service: str, minutes: int = 60) -> Callable[[], Any]:
    """A factory of short-lived leaves for ``service`` (rotation tests)."""
    return lambda: ca.issue_leaf(service, f"{service}-1", ttl=timedelta(minutes=minutes))
