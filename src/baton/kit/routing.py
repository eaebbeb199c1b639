"""Kit routes: FastAPI routes that honour the kit's per-route options (today: idempotency).

Routes added through ``service.router`` / ``service.post(...)`` use :class:`KitRoute` already. A separate
router (e.g. in ``api.py``) should be a :class:`APIRouter` from this module so ``@service.idempotent`` works on
its routes too; the service refuses to start when an idempotent endpoint sits on a plain FastAPI router.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import fastapi
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from baton.kit.idempotency import policy_of, run_idempotent

__all__ = ["APIRouter", "KitRoute", "is_kit_routed", "route_template"]

# Endpoints whose route is a KitRoute; weak so test-local endpoints do not pile up.
_kit_routed: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()


def route_template(scope: Scope) -> str | None:
    """The template of the route that matched (``/v1/items/{id}``), or ``None`` when none did.

    Read after the app handled the request: routing records the match in the (shared) scope.
    """
    # FastAPI keeps included routers' routes unprefixed and records the effective (prefixed) route here.
    fastapi_scope = scope.get("fastapi")
    if isinstance(fastapi_scope, dict):
        effective = fastapi_scope.get("effective_route_context")
        path = getattr(effective, "path_format", None)
        if isinstance(path, str):
            return path
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return _plain_route_template(scope)


def _plain_route_template(scope: Scope) -> str | None:
    # Plain Starlette routes (/docs, /openapi.json) record only their endpoint; find the route it belongs to.
    endpoint = scope.get("endpoint")
    router = scope.get("router")
    if endpoint is None or router is None:
        return None
    for candidate in getattr(router, "routes", ()):
        if getattr(candidate, "endpoint", None) is endpoint:
            path = getattr(candidate, "path_format", None)
            return path if isinstance(path, str) else None
    return None


class KitRoute(APIRoute):
    """An ``APIRoute`` that applies the kit's per-endpoint options before calling FastAPI's handler."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler; the endpoint's options are looked up per request, so decorator order
        (``@service.idempotent`` above or below ``@service.post``) does not matter."""
        handler = super().get_route_handler()
        endpoint = self.endpoint
        _kit_routed.add(endpoint)

        async def kit_handler(request: Request) -> Response:
            policy = policy_of(endpoint)
            if policy is None:
                return await handler(request)
            route = route_template(request.scope) or request.url.path
            return await run_idempotent(request, handler, policy=policy, route=route)

        return kit_handler


class APIRouter(fastapi.APIRouter):
    """``fastapi.APIRouter`` whose routes are :class:`KitRoute` by default."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("route_class", KitRoute)
        super().__init__(**options)


def is_kit_routed(endpoint: Callable[..., Any]) -> bool:
    """Whether ``endpoint`` is served by a :class:`KitRoute` (so its kit options take effect)."""
    return endpoint in _kit_routed
