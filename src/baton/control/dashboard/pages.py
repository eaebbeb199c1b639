"""One handler per dashboard page: gather the page's data from :class:`~baton.control.dashboard.app.Sources`
and name its template. Handlers return ``(template, context)``; a ``status`` key in the context sets the answer's
HTTP status (404 for an unknown trace, saga or incident)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from baton.control.dashboard.graph import layout
from baton.control.dashboard.timeline import flow_lanes, saga_lanes, waterfall_rows
from baton.control.observe_views import HOUSEKEEPING, red_view, resilience_view, slo_view, topology_view
from baton.errors import NotFound
from baton.telemetry.spans import TraceQuery

if TYPE_CHECKING:
    from baton.control.dashboard.app import Sources

Page = tuple[str, dict[str, Any]]


def _red(sources: Sources) -> dict[str, Any]:
    observer = sources.observer
    policy = observer.policy
    return red_view(
        observer.window,
        now=observer.clock(),
        over=policy.red_window,
        step=policy.scrape_interval,
        points=policy.sparkline_points,
    )


def _slos(sources: Sources) -> list[dict[str, Any]]:
    observer = sources.observer
    return slo_view(observer.evaluator.status(), observer.slos, scale=observer.policy.time_scale)


async def overview(request: Request, sources: Sources) -> Page:
    """Services with their instances (health, version) and RED figures with sparklines."""
    red = {row["service"]: row for row in _red(sources)["services"]}
    instances = sources.instances()
    services = []
    for service in sources.services():
        name = service["service"]
        services.append({**service, "instances": [i for i in instances if i["service"] == name], "red": red.get(name)})
    open_incidents = [i for i in sources.observer.incidents.open_incidents()]
    slos = _slos(sources)
    return "overview.html", {
        "page": "overview",
        "system": sources.system(),
        "services": services,
        "open_incidents": open_incidents,
        "slo_states": {s["state"] for s in slos},
        "slos": slos,
        "now": time.time(),
        "scrape_interval": sources.observer.policy.scrape_interval,
    }


async def topology(request: Request, sources: Sources) -> Page:
    """The service graph drawn from recent traces."""
    lookback = float(request.query_params.get("lookback_s", "900") or 900)
    graph = await topology_view(sources.span_store, declared=sources.declared_edges, lookback=lookback)
    known = {s["service"] for s in sources.services()}
    return "topology.html", {"page": "topology", "graph": graph, "drawing": layout(graph, known), "lookback": lookback}


async def traces(request: Request, sources: Sources) -> Page:
    """Trace search: service, operation, minimum duration, errors only, lookback."""
    params = request.query_params
    service = params.get("service") or ""
    operation = params.get("operation") or ""
    min_ms = params.get("min_ms") or ""
    lookback_s = params.get("lookback_s") or "3600"
    errors_only = params.get("error") == "1"
    form = {
        "service": service,
        "operation": operation,
        "min_ms": min_ms,
        "error": errors_only,
        "lookback_s": lookback_s,
    }
    results: list[Any] = []
    error = None
    if sources.span_store is not None:
        try:
            query = TraceQuery(
                service=service or None,
                operation=operation or None,
                min_duration_ns=int(float(min_ms or 0) * 1e6),
                error=True if errors_only else None,
                since_ns=time.time_ns() - int(float(lookback_s) * 1e9),
                limit=50 if operation else 200,
            )
            found = await sources.span_store.search(query)
            # The control plane's own scrapes and probes would bury the requests; show them only when asked.
            results = [t for t in found if operation or t.root_name not in HOUSEKEEPING][:50]
        except ValueError:
            error = "minimum duration and lookback must be numbers"
    else:
        error = "the trace store is not available"
    services = sorted({s["service"] for s in sources.services()})
    return "traces.html", {"page": "traces", "form": form, "results": results, "services": services, "error": error}


async def trace(request: Request, sources: Sources) -> Page:
    """One trace as a waterfall."""
    trace_id = request.path_params["trace_id"]
    spans = await sources.span_store.trace(trace_id) if sources.span_store is not None else []
    rows, total_ns = waterfall_rows(spans)
    return "trace.html", {
        "page": "traces",
        "trace_id": trace_id,
        "rows": rows,
        "total_ns": total_ns,
        "services": sorted({s.service for s in spans}),
        "status": 200 if spans else 404,
    }


async def sagas(request: Request, sources: Sources) -> Page:
    """Sagas of every orchestrating service, newest first."""
    status = request.query_params.get("status") or None
    listing = await sources.sagas.list(status=status, limit=100)
    return "sagas.html", {"page": "sagas", "listing": listing, "status_filter": status or ""}


async def saga(request: Request, sources: Sources) -> Page:
    """One saga's timeline: steps, retries, compensations."""
    saga_id = request.path_params["saga_id"]
    try:
        history = await sources.sagas.show(saga_id)
    except NotFound as exc:
        return "saga.html", {
            "page": "sagas",
            "saga_id": saga_id,
            "history": None,
            "missing": exc.message,
            "status": 404,
        }
    lanes, entries = saga_lanes(history)
    return "saga.html", {"page": "sagas", "saga_id": saga_id, "history": history, "lanes": lanes, "entries": entries}


async def flow(request: Request, sources: Sources) -> Page:
    """One flow by correlation id: a lane per service (saga steps, events produced, published, handled)."""
    correlation_id = request.path_params["correlation_id"]
    found = await sources.sagas.flow(correlation_id)
    lanes, rows = flow_lanes(found)
    return "flow.html", {
        "page": "sagas",
        "flow": found,
        "lanes": lanes,
        "rows": rows,
        "status": 200 if rows else 404,
    }


async def resilience(request: Request, sources: Sources) -> Page:
    """Breaker states and bulkhead depths of every caller → target."""
    observer = sources.observer
    view = resilience_view(observer.window, now=observer.clock(), over=observer.policy.red_window)
    return "resilience.html", {"page": "resilience", "view": view}


async def slos(request: Request, sources: Sources) -> Page:
    """SLOs: state, error budget remaining, burn rates."""
    return "slos.html", {"page": "slos", "slos": _slos(sources), "time_scale": sources.observer.policy.time_scale}


async def incidents(request: Request, sources: Sources) -> Page:
    """Incidents, open first, then newest."""
    found = await sources.observer.incident_store.list(limit=100)
    found.sort(key=lambda i: (i["state"] != "open", -i["opened_at"]))
    return "incidents.html", {"page": "incidents", "incidents": found, "now": time.time()}


async def incident(request: Request, sources: Sources) -> Page:
    """One incident: alerts, timeline, runbooks, traces and log lines."""
    incident_id = request.path_params["incident_id"]
    found = await sources.observer.incident_store.get(incident_id)
    return "incident.html", {
        "page": "incidents",
        "incident": found,
        "incident_id": incident_id,
        "now": time.time(),
        "status": 200 if found else 404,
    }
