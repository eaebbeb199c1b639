"""Compile a :class:`~baton.gateway.config.GatewayConfig` into the hot path's route table.

Each route's policy chain is built once here (allowlist ▸ auth ▸ authz ▸ rate limit ▸ quota ▸ validation), as
are its backend targets, retry budget, response filter and cache; requests only walk the result. Upstream
OpenAPI documents are fetched here too (asynchronously, at load and on reload).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from baton.gateway.cache import ResponseCache
from baton.gateway.config import AuthConfig, GatewayConfig, RouteConfig
from baton.gateway.filtering import ResponseFilter
from baton.gateway.policies.allowlist import IpAllowlist
from baton.gateway.policies.auth import Authenticate
from baton.gateway.policies.authz import Authorize
from baton.gateway.policies.chain import compile_chain
from baton.gateway.policies.openapi import OpenApiSchemas
from baton.gateway.policies.quota import Quota
from baton.gateway.policies.ratelimit import RateLimit
from baton.gateway.policies.validation import Validate
from baton.gateway.routing import Route, RouteTable
from baton.gateway.state import GatewayState
from baton.resilience.retry import RetryBudget

log = logging.getLogger("baton.gateway")


def build_route(config: RouteConfig, state: GatewayState) -> Route:
    """One route with its chain and helpers."""
    route = Route(config)
    policies: list[Any] = []
    if config.allow:
        policies.append(IpAllowlist(config.allow))
    auth = config.auth
    if auth is None and Authorize.needed(config):
        # Grants need a principal: read credentials when present and let authorization answer 401 otherwise.
        auth = AuthConfig(required=False)
    if auth is not None:
        policies.append(Authenticate(state.authenticator, auth, required=auth.required or config.private))
    if Authorize.needed(config):
        policies.append(Authorize(config))
    if config.rate_limit is not None:
        policies.append(RateLimit(config.name, config.rate_limit, state.buckets))
    if config.quota is not None:
        policies.append(Quota(config.name, config.quota, state.quotas))
    validator = Validate(config.validation, max_body=state.config.max_body)
    # Validation's header checks look at a declared body only: requests without one skip the step.
    bodyless = tuple(policies)
    policies.append(validator)
    route.policies = tuple(policies)
    route.chain = compile_chain(route.policies)
    route.bodyless_chain = compile_chain(bodyless)
    route.max_body = validator.max_body
    route.validator = validator
    route.buffer_body = config.validation.needs_body
    route.response_filter = ResponseFilter(config.filter.internal_fields) if config.filter is not None else None
    route.cache = ResponseCache(config.cache) if config.cache is not None else None
    route.targets = [state.upstreams.target(b) for b in config.backends]
    route.budget = RetryBudget(config.retry) if config.retry is not None else None
    return route


def build_table(config: GatewayConfig, state: GatewayState) -> RouteTable:
    """The route table for ``config``."""
    return RouteTable([build_route(r, state) for r in config.routes])


async def fetch_openapi(source: str) -> dict[str, Any]:
    """An OpenAPI document from a URL or a file path."""
    if source.startswith(("http://", "https://")):
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0)) as session,
            session.get(source) as response,
        ):
            response.raise_for_status()
            document: dict[str, Any] = orjson.loads(await response.read())
            return document
    loaded: dict[str, Any] = orjson.loads(await asyncio.to_thread(Path(source).read_bytes))
    return loaded


async def load_openapi(route: Route, state: GatewayState) -> bool:
    """Attach the upstream's request schemas (and ``x-internal`` fields) to a route that opted in."""
    option = route.config.validation.openapi
    if not option:
        return False
    source = option if isinstance(option, str) else None
    if source is None:
        target = route.targets[0]
        instance = state.upstreams.pick(target)
        if instance is None:
            log.warning("route %s: no instance to read the OpenAPI document from yet", route.name)
            return False
        source = f"{instance.base_url}/openapi.json"
    try:
        schemas = OpenApiSchemas(await fetch_openapi(source))
    except Exception as exc:
        log.warning("route %s: OpenAPI document %s not loaded (%s); bodies pass unchecked", route.name, source, exc)
        return False
    route.validator.schemas = schemas
    if schemas.internal_fields:
        current = route.response_filter
        names = (current.names if current is not None else frozenset()) | schemas.internal_fields
        route.response_filter = ResponseFilter(names)
    return True
