"""The control plane HTTP API (FastAPI, ``127.0.0.1:7700``): what the CLI and the dashboard use.

Every route needs ``Authorization: Bearer <token>`` with the token from ``.baton/admin-token``, except the
span ingest ``POST /v1/traces`` that instances export to (the API listens on 127.0.0.1 only); reads also accept
the dashboard's session cookie (:mod:`baton.control.dashboard.auth`). Errors are
``application/problem+json``. Mounted from other building blocks when present: ``/v1/config`` and
``/v1/secrets`` (:mod:`baton.control.api_config`), ``/v1/traces`` and ``/v1/telemetry/...``
(:mod:`baton.telemetry.receiver`), the observation API (:mod:`baton.control.api_observe`: RED, SLOs,
incidents, topology, sagas, live events) and the dashboard at ``/`` (:mod:`baton.control.dashboard`).

=========================================  ==================================================
``GET  /v1/system``                        name, manifest, URLs (control, gateway, NATS, each service's docs)
``GET  /v1/services``                      per service: wanted and ready replicas, version, dependencies
``GET  /v1/instances``                     per instance: pid, port, state, ready, restarts, uptime, version
``GET  /v1/instances/{id}/logs?tail=N``    last lines of an instance's log
``POST /v1/services/{name}/scale``         ``{"replicas": N}``: live, no restart of the others
``POST /v1/services/{name}/restart``       rolling restart, one replica at a time (re-reads the manifest)
``POST /v1/shutdown``                      stop every instance gracefully, then the control plane
``GET  /v1/ca/bundle``, ``/.well-known/jwks.json``, ``POST /v1/certificates``, ``POST /v1/tokens``: the CA
                                           and token issuer (:mod:`baton.security.api`)
=========================================  ==================================================
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from baton.control.api_rollouts import rollouts_router
from baton.control.dashboard.auth import SAFE_METHODS, has_session
from baton.control.logtail import tail_lines
from baton.errors import BatonError, ControlError, ManifestError, NotFound, SecurityError
from baton.kit.problems import problem_response, problem_type

if TYPE_CHECKING:
    from baton.control.daemon import Daemon
    from baton.control.observe import Observer

log = logging.getLogger("baton.control.api")


class ScaleRequest(BaseModel):
    """Body of ``POST /v1/services/{name}/scale``."""

    replicas: int = Field(ge=0, le=64)


class ApiServer(uvicorn.Server):
    """uvicorn without its signal handling: the daemon decides what a signal means (detach, not stop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave SIGTERM/SIGINT to the daemon (uvicorn would re-raise them after serving)."""
        yield


async def require_admin(request: Request) -> None:
    """Dependency: the request carries the admin bearer token (or, for reads, the dashboard's session cookie).

    Raises:
        SecurityError: missing or wrong token.
    """
    expected: str = request.app.state.token
    if request.method in SAFE_METHODS and has_session(request, expected):
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise SecurityError("missing or wrong admin token; it is in .baton/admin-token")


async def require_admin_unless_ingest(request: Request) -> None:
    """Dependency: like :func:`require_admin`, but instances may export spans without the token."""
    if request.method == "POST" and request.url.path == "/v1/traces":
        return
    await require_admin(request)


def create_app(daemon: Daemon, *, span_store: Any = None, observer: Observer | None = None) -> FastAPI:
    """The API app of ``daemon``; ``span_store`` enables the telemetry receiver, ``observer`` the observation API
    (:mod:`baton.control.api_observe`) and the dashboard at ``/``."""
    app = FastAPI(title="Baton control plane", version="1", docs_url="/docs", openapi_url="/openapi.json")
    app.state.token = daemon.token
    app.state.daemon = daemon
    app.add_exception_handler(BatonError, _problem)  # type: ignore[arg-type]
    app.include_router(_control_router(daemon), dependencies=[Depends(require_admin)])
    security = getattr(daemon, "security", None)
    if security is not None:
        from baton.security.api import security_router

        # Bundle and JWKS are public; certificates and tokens need the admin token here (instances use the
        # mutual-TLS listener, where their own certificate is enough).
        app.include_router(security_router(security.ca, security.issuer))
    config_router = _optional_config_router()
    if config_router is not None:
        app.include_router(config_router, dependencies=[Depends(require_admin)])
    if span_store is not None:
        from baton.telemetry.receiver import telemetry_router

        app.include_router(telemetry_router(span_store), dependencies=[Depends(require_admin_unless_ingest)])
    app.include_router(rollouts_router(daemon, observer), dependencies=[Depends(require_admin)])  # before "/" mount
    if observer is not None:
        _mount_observation(app, daemon, observer)
    return app


def _mount_observation(app: FastAPI, daemon: Daemon, observer: Observer) -> None:
    from baton.control.api_observe import observe_router
    from baton.control.dashboard import Sources, dashboard_app
    from baton.control.sagas import SagaAggregator

    sagas = SagaAggregator(
        daemon.manifest,
        daemon.supervisor.views,
        session=lambda: observer.http,
        nats=lambda: getattr(app.state, "nats", None),  # flows: the events part is gathered over NATS
    )
    declared = [(name, dep) for name, spec in daemon.manifest.services.items() for dep in spec.depends_on]
    app.include_router(observe_router(observer, sagas, declared_edges=declared), dependencies=[Depends(require_admin)])
    sources = Sources(
        system=daemon.system_view,
        services=daemon.supervisor.services_view,
        instances=daemon.supervisor.views,
        observer=observer,
        sagas=sagas,
        span_store=observer.span_store,
        declared_edges=declared,
    )
    # The dashboard handles its own sign-in (login page, cookie); mounted last so /v1 routes win.
    app.mount("/", dashboard_app(sources, token=daemon.token))


def _control_router(daemon: Daemon) -> APIRouter:
    app = APIRouter(tags=["control"])

    @app.get("/v1/system")
    async def system() -> dict[str, Any]:
        """The system: name, manifest path, home, pid and URLs."""
        return daemon.system_view()

    @app.get("/v1/services")
    async def services() -> list[dict[str, Any]]:
        """Per-service summary."""
        return daemon.supervisor.services_view()

    @app.get("/v1/instances")
    async def instances() -> list[dict[str, Any]]:
        """Every instance with its state (for ``baton ps`` and the dashboard)."""
        return daemon.supervisor.views()

    @app.get("/v1/instances/{instance_id}/logs")
    async def logs(instance_id: str, tail: int = 100) -> dict[str, Any]:
        """The last ``tail`` lines of an instance's log."""
        path = daemon.home.log_file(instance_id)
        if path.parent != daemon.home.logs or not path.exists():
            raise ControlError(f"no log for instance '{instance_id}'")
        return {"instance": instance_id, "lines": tail_lines(path, min(max(tail, 1), 5000))}

    @app.post("/v1/services/{name}/scale")
    async def scale(name: str, body: ScaleRequest) -> dict[str, Any]:
        """Scale ``name`` to ``replicas`` live; answers once new replicas are ready."""
        _known(daemon, name)
        await daemon.supervisor.scale(name, body.replicas)
        return {"service": name, "replicas": body.replicas, "instances": _of(daemon, name)}

    @app.post("/v1/services/{name}/restart")
    async def restart(name: str) -> dict[str, Any]:
        """Rolling restart of ``name`` with its spec re-read from the manifest."""
        _known(daemon, name)
        spec = daemon.reload_manifest().services.get(name)
        await daemon.supervisor.restart(name, spec=spec)
        return {"service": name, "instances": _of(daemon, name)}

    @app.post("/v1/shutdown")
    async def shutdown() -> dict[str, Any]:
        """Stop every instance gracefully (drain, SIGTERM, SIGKILL after the timeout), then exit."""
        stopped = len(daemon.supervisor.views())
        await daemon.shutdown()
        return {"stopped": stopped}

    return app


def _optional_config_router() -> APIRouter | None:
    """The config + secrets router, when that building block is present."""
    try:
        from baton.control.api_config import router
    except ImportError:  # not part of this build
        return None
    return router


def _known(daemon: Daemon, name: str) -> None:
    if name not in daemon.supervisor.manifest.services:
        raise _NotFound(f"unknown service '{name}'")


def _of(daemon: Daemon, name: str) -> list[dict[str, Any]]:
    return [view for view in daemon.supervisor.views() if view["service"] == name]


class _NotFound(ControlError):
    status = 404
    title = "Not found"


def _status(exc: BatonError) -> int:
    if isinstance(exc, SecurityError | _NotFound | NotFound):
        return exc.status
    if isinstance(exc, ManifestError):
        return 422
    if isinstance(exc, ControlError):
        return 409
    return exc.status


async def _problem(request: Request, exc: BatonError) -> Response:
    status = _status(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem_response(
        status,
        headers=headers,
        type=problem_type(type(exc)),
        title=exc.title,
        detail=exc.message,
        instance=request.url.path,
    )
