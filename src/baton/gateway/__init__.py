"""The API gateway: routing by path, version, header and weight, a policy chain per route, at near-nginx speed.

The hot path is written on asyncio Protocols with httptools (uvloop when available), not on a web framework.
Run it as ``python -m baton.gateway --config baton.yaml`` or embed it::

    async with Gateway(parse_config({...})).serve("127.0.0.1", 0) as gateway:
        ...
"""

from baton.gateway.config import (
    ApiKeyConfig,
    AuthConfig,
    BackendConfig,
    CacheConfig,
    FilterConfig,
    GatewayConfig,
    IssuerConfig,
    MatchConfig,
    QuotaConfig,
    RateLimitConfig,
    RateSpec,
    RouteConfig,
    ValidationConfig,
    load_config,
    parse_config,
)
from baton.gateway.gateway import Gateway
from baton.gateway.policies.base import Policy, Principal, RequestInfo
from baton.gateway.responses import Rejection

__all__ = [
    "ApiKeyConfig",
    "AuthConfig",
    "BackendConfig",
    "CacheConfig",
    "FilterConfig",
    "Gateway",
    "GatewayConfig",
    "IssuerConfig",
    "MatchConfig",
    "Policy",
    "Principal",
    "QuotaConfig",
    "RateLimitConfig",
    "RateSpec",
    "Rejection",
    "RequestInfo",
    "RouteConfig",
    "ValidationConfig",
    "load_config",
    "parse_config",
]
