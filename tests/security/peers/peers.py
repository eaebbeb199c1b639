"""Two tiny kit services for the end-to-end security tests: ``front`` calls ``back`` through its ServiceClients.

``back`` lets only ``front`` call ``/v1/echo`` and nobody (but the control plane) call ``/v1/admin``
(the manifest's ``allow:``); ``/v1/open`` is open to any Baton service.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from baton.kit import Service
from baton.kit.clients import ServiceClients

front = Service("front")
back = Service("back")
clients = ServiceClients()
front.add_component(clients)


@front.get("/v1/relay")
async def relay() -> dict[str, Any]:
    """Call ``back`` (mutual TLS and a service token, both automatic) and return its answer."""
    return {"back": await clients["back"].get_json("/v1/echo")}


@back.get("/v1/echo")
async def echo(request: Request) -> dict[str, Any]:
    """Who called: the certificate's identity and the token's subject."""
    principal = getattr(request.state, "principal", None)
    return {"peer": request.state.peer, "subject": principal.subject if principal else None}


@back.get("/v1/open")
async def open_route(request: Request) -> dict[str, Any]:
    """Any Baton service may call this one."""
    return {"peer": request.state.peer}


@back.get("/v1/admin")
async def admin_route() -> dict[str, Any]:
    """Listed for nobody: only the control plane may call it."""
    return {"ok": True}
