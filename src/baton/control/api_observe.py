"""The control plane's observation API: what the dashboard, ``baton top``, ``baton saga`` and scripts read.

=========================================  ==================================================
``GET /v1/metrics/red?over=``              rate, 5xx ratio, p50/p99 and sparkline series per service and route
``GET /v1/slos``                           per SLO: state, burn rate per window, error budget remaining
``GET /v1/incidents?state=&limit=``        incidents, newest first (``/v1/incidents/{id}``: one, with timeline)
``GET /v1/topology?lookback_s=``           service graph: edges from traces (+ declared dependencies)
``GET /v1/resilience``                     breaker state, bulkhead depth and call outcomes per caller → target
``GET /v1/sagas?status=&correlation_id=``  sagas of every orchestrating service (``/v1/sagas/{id}``: the log)
``GET /v1/flows/{correlation_id}``         one flow's timeline: its sagas' logs + events produced and handled
``GET /v1/events``                         Server-Sent Events: ``tick`` after each round, ``incident`` changes
=========================================  ==================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from baton.control.live import sse_stream
from baton.control.observe import Observer
from baton.control.observe_views import red_view, resilience_view, slo_view, topology_view
from baton.control.sagas import SagaAggregator
from baton.errors import NotFound

__all__ = ["observe_router"]


def observe_router(
    observer: Observer, sagas: SagaAggregator, *, declared_edges: Iterable[tuple[str, str]] = ()
) -> APIRouter:
    """The routes above over ``observer`` (metrics, SLOs, incidents, live events) and ``sagas``."""
    router = APIRouter(tags=["observe"])
    declared = list(declared_edges)
    policy = observer.policy

    @router.get("/v1/metrics/red")
    async def red(over: float = Query(default=policy.red_window, gt=0, le=86400)) -> dict[str, Any]:
        """RED per service and route over the last ``over`` seconds, with sparkline series."""
        view = red_view(
            observer.window,
            now=observer.clock(),
            over=over,
            step=policy.scrape_interval,
            points=policy.sparkline_points,
        )
        view["rounds"] = observer.rounds
        return view

    @router.get("/v1/slos")
    async def slos() -> dict[str, Any]:
        """Every SLO's status at the latest evaluation."""
        rows = slo_view(observer.evaluator.status(), observer.slos, scale=policy.time_scale)
        return {"time_scale": policy.time_scale, "rounds": observer.rounds, "slos": rows}

    @router.get("/v1/incidents")
    async def incidents(
        state: str | None = Query(default=None, pattern="^(open|resolved)$"),
        limit: int = Query(default=50, ge=1, le=500),
    ) -> list[dict[str, Any]]:
        """Incidents, newest first."""
        return await observer.incident_store.list(state=state, limit=limit)

    @router.get("/v1/incidents/{incident_id}")
    async def incident(incident_id: str) -> dict[str, Any]:
        """One incident with its alerts, timeline, runbooks, traces and logs."""
        found = await observer.incident_store.get(incident_id)
        if found is None:
            raise NotFound(f"no incident '{incident_id}'")
        return found

    @router.get("/v1/topology")
    async def topology(lookback_s: float = Query(default=900.0, gt=0, le=86400)) -> dict[str, Any]:
        """Services and the calls between them seen in recent traces."""
        return await topology_view(observer.span_store, declared=declared, lookback=lookback_s)

    @router.get("/v1/resilience")
    async def resilience() -> dict[str, Any]:
        """Breakers and bulkheads of every instance's clients."""
        return resilience_view(observer.window, now=observer.clock(), over=policy.red_window)

    @router.get("/v1/sagas")
    async def list_sagas(
        status: str | None = None, correlation_id: str | None = None, limit: int = Query(default=50, ge=1, le=100)
    ) -> dict[str, Any]:
        """Sagas of every orchestrating service, newest first (each item names its ``service``)."""
        return await sagas.list(status=status, correlation_id=correlation_id, limit=limit)

    @router.get("/v1/sagas/{saga_id}")
    async def show_saga(saga_id: str) -> dict[str, Any]:
        """One saga and its ordered log, from whichever service orchestrates it."""
        return await sagas.show(saga_id)

    @router.get("/v1/flows/{correlation_id}")
    async def show_flow(correlation_id: str) -> dict[str, Any]:
        """Everything done under ``correlation_id``: saga steps, events produced, published and handled."""
        return await sagas.flow(correlation_id)

    @router.get("/v1/events")
    async def events(request: Request) -> StreamingResponse:
        """Server-Sent Events: ``hello`` on connect, ``tick`` after every round, ``incident`` on changes."""
        return StreamingResponse(
            sse_stream(observer.hub, disconnected=request.is_disconnected),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
