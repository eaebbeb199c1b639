"""Resilient service-to-service calls: :class:`ServiceClient` over a chain of layers (see :mod:`.chain`)."""

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
