"""Resilient service-to-service calls: :class:`ServiceClient` over a chain of layers (see :mod:`.chain`).

The names below are imported on first use (PEP 562), so importing one submodule (``baton.client.base``)
does not load the whole client and aiohttp with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from baton._lazy import lazy_exports

if TYPE_CHECKING:
    from baton.client.base import CallOptions, Fallback, Handler, Request, TokenProvider
    from baton.client.chain import build_chain
    from baton.client.metrics import ClientMetrics
    from baton.client.response import Response
    from baton.client.service_client import ServiceClient
    from baton.client.transport import AiohttpTransport

__all__ = [
    "AiohttpTransport",
    "CallOptions",
    "ClientMetrics",
    "Fallback",
    "Handler",
    "Request",
    "Response",
    "ServiceClient",
    "TokenProvider",
    "build_chain",
]

_HOMES = {
    "CallOptions": "base",
    "Fallback": "base",
    "Handler": "base",
    "Request": "base",
    "TokenProvider": "base",
    "build_chain": "chain",
    "ClientMetrics": "metrics",
    "Response": "response",
    "ServiceClient": "service_client",
    "AiohttpTransport": "transport",
}


__getattr__, __dir__ = lazy_exports(__name__, __all__, _HOMES)
