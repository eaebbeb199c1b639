"""The dashboard's ASGI app: sign-in, the pages, and the static files.

Each page handler gathers its data from :class:`Sources` (the same view functions the JSON API uses) and renders
one template. A request with ``X-Partial: 1`` (the live-update script) gets only the page's content block.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from baton.control.dashboard import pages
from baton.control.dashboard.auth import COOKIE as SESSION_COOKIE
from baton.control.dashboard.auth import check_token, has_session, set_session
from baton.control.dashboard.filters import FILTERS
from baton.control.observe import Observer
from baton.control.sagas import SagaAggregator
from baton.telemetry.spans import SpanStore

__all__ = ["PAGES", "Sources", "dashboard_app"]

_HERE = Path(__file__).parent

PAGES: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    ("topology", "Topology"),
    ("traces", "Traces"),
    ("sagas", "Sagas"),
    ("resilience", "Resilience"),
    ("slos", "SLOs"),
    ("incidents", "Incidents"),
    ("rollouts", "Rollouts"),  # served by the rollouts router (baton.control.api_rollouts)
)
"""``(path segment, title)`` of the pages in the navigation, in order."""

_LIVE = frozenset(
    {"overview.html", "topology.html", "sagas.html", "resilience.html", "slos.html", "incidents.html", "incident.html"}
)
"""Templates whose content is re-fetched on every live event (not the search forms: they would lose input)."""


@dataclass
class Sources:
    """Where the pages read from: the supervisor's views, the observer, the saga aggregation, the span store."""

    system: Callable[[], dict[str, Any]]
    services: Callable[[], list[dict[str, Any]]]
    instances: Callable[[], list[dict[str, Any]]]
    observer: Observer
    sagas: SagaAggregator
    span_store: SpanStore | None = None
    declared_edges: Iterable[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request, Sources], Awaitable[tuple[str, dict[str, Any]]]]


def dashboard_app(sources: Sources, *, token: str) -> Starlette:
    """The dashboard over ``sources``, signed in with the admin ``token``."""
    env = Environment(loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.filters.update(FILTERS)
    env.globals.update(pages=PAGES)

    def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
        partial = request.headers.get("x-partial") == "1"
        name = sources.system().get("name", "baton") if not partial else ""
        html = env.get_template(template).render(
            request=request,
            partial=partial,
            live=template in _LIVE,
            system_name=name,
            rendered_at=time.time(),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            given = request.query_params.get("token")
            if given is not None:
                # ``?token=`` once: swap it for the cookie and drop it from the address bar (and from history).
                if not check_token(given, token):
                    return render(request, "login.html", {"error": "wrong token", "next": request.url.path}, status=401)
                query = urllib.parse.urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
                redirect = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
                set_session(redirect, token, secure=request.url.scheme == "https")
                return redirect
            if not has_session(request, token):
                target = urllib.parse.quote(
                    str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
                )
                return RedirectResponse(f"/login?next={target}", status_code=303)
            template, context = await handler(request, sources)
            return render(request, template, context, status=context.pop("status", 200))

        return endpoint

    async def login(request: Request) -> Response:
        next_path = _safe_next(request.query_params.get("next"))
        if request.method == "POST":
            form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
            given = (form.get("token") or [""])[0]
            next_path = _safe_next((form.get("next") or [next_path])[0])
            if check_token(given, token):
                response = RedirectResponse(next_path, status_code=303)
                set_session(response, token, secure=request.url.scheme == "https")
                return response
            return render(
                request, "login.html", {"error": "That is not the admin token.", "next": next_path}, status=401
            )
        return render(request, "login.html", {"error": None, "next": next_path})

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    routes = [
        Route("/", page(pages.overview)),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["GET", "POST"]),
        Route("/ui/overview", page(pages.overview)),
        Route("/ui/topology", page(pages.topology)),
        Route("/ui/traces", page(pages.traces)),
        Route("/ui/traces/{trace_id}", page(pages.trace)),
        Route("/ui/sagas", page(pages.sagas)),
        Route("/ui/sagas/{saga_id}", page(pages.saga)),
        Route("/ui/flows/{correlation_id}", page(pages.flow)),
        Route("/ui/resilience", page(pages.resilience)),
        Route("/ui/slos", page(pages.slos)),
        Route("/ui/incidents", page(pages.incidents)),
        Route("/ui/incidents/{incident_id}", page(pages.incident)),
        Mount("/ui/static", app=StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes)


def _safe_next(value: str | None) -> str:
    """Only local paths: a ``next`` pointing at another site would make the login an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or value.startswith("/\\"):
        return "/"
    return value
