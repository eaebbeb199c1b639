"""The rollout API of the control plane (:mod:`baton.delivery`), mounted by :func:`baton.control.api.create_app`.

=============================================  ===================================================================
``GET  /v1/rollouts``                          current (or last) rollout of every service
``GET  /v1/rollouts/{service}``                one service's rollout: phase, weight, steps, analysis, timeline
``POST /v1/rollouts/{service}``                ``{"strategy"?}``: release what ``baton.yaml`` now says (202)
``POST /v1/rollouts/{service}/promote``        ``{"full"?}``: skip the current step / switch / finish now
``POST /v1/rollouts/{service}/abort``          traffic back on the stable version, the new one stopped
``POST /v1/rollouts/{service}/undo``           switch back (instant while warm); later: release the previous spec
``GET  /v1/rollouts/{service}/preview``        the tester headers that reach the new version through the gateway
``GET  /ui/rollouts``                          the rollouts page (Argo-Rollouts-like: weights, steps, analysis)
=============================================  ===================================================================

Every route needs the admin token (the page also takes the dashboard's session cookie).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from baton.delivery.manager import RolloutManager
from baton.delivery.view import rollouts_page
from baton.errors import NotFound

if TYPE_CHECKING:
    from baton.control.daemon import Daemon
    from baton.control.observe import Observer

__all__ = ["PromoteRequest", "StartRequest", "manager_for", "rollouts_router"]


class StartRequest(BaseModel):
    """Body of ``POST /v1/rollouts/{service}``."""

    strategy: Literal["rolling", "canary", "blue_green"] | None = None
    """Override the manifest's strategy for this release."""


class PromoteRequest(BaseModel):
    """Body of ``POST /v1/rollouts/{service}/promote``."""

    full: bool = False


_MANAGERS: weakref.WeakKeyDictionary[Any, RolloutManager] = weakref.WeakKeyDictionary()


def manager_for(daemon: Daemon, observer: Observer | None = None) -> RolloutManager:
    """The daemon's rollout manager (created on first use, then shared by everything mounted on that daemon)."""
    existing = _MANAGERS.get(daemon)
    if existing is not None:
        return existing
    gateway = daemon.system_view()["urls"].get("gateway")
    manager = RolloutManager(
        daemon.supervisor,
        home=daemon.home.root,
        manifest=daemon.reload_manifest,
        gateway_url=gateway,
        incidents=observer.incident_store if observer is not None else None,
        publish=observer.hub.publish if observer is not None else None,
    )
    _MANAGERS[daemon] = manager
    manager.resume()  # rollouts a previous control plane (even one killed -9) was running carry on
    return manager


def rollouts_router(daemon: Daemon, observer: Observer | None = None) -> APIRouter:
    """The routes above, over the daemon's :class:`~baton.delivery.manager.RolloutManager`."""
    router = APIRouter(tags=["rollouts"])
    manager = manager_for(daemon, observer)

    @router.get("/v1/rollouts")
    async def list_rollouts() -> list[dict[str, Any]]:
        """The current (or last) rollout of every service, newest first."""
        return manager.status()

    @router.get("/v1/rollouts/{service}")
    async def get_rollout(service: str) -> dict[str, Any]:
        """One service's current (or last) rollout."""
        found = manager.status(service)
        if not found:
            raise NotFound(f"no rollout of '{service}' yet")
        return found[0]

    @router.post("/v1/rollouts/{service}", status_code=202)
    async def start_rollout(service: str, body: StartRequest | None = None) -> dict[str, Any]:
        """Release what ``baton.yaml`` now says for ``service``; follow it with ``GET``."""
        await manager.start(service, strategy=body.strategy if body else None)
        return manager.status(service)[0]

    @router.post("/v1/rollouts/{service}/promote")
    async def promote(service: str, body: PromoteRequest | None = None) -> dict[str, Any]:
        """Skip the current step (``full``: every step); blue-green: switch, or stop the warm old version."""
        await manager.promote(service, full=bool(body and body.full))
        return manager.status(service)[0]

    @router.post("/v1/rollouts/{service}/abort")
    async def abort(service: str) -> dict[str, Any]:
        """Traffic back on the stable version; the new version stopped."""
        await manager.abort(service)
        return manager.status(service)[0]

    @router.post("/v1/rollouts/{service}/undo")
    async def undo(service: str) -> dict[str, Any]:
        """Switch back to the previous version (instant while it is warm)."""
        await manager.undo(service)
        return manager.status(service)[0]

    @router.get("/v1/rollouts/{service}/preview")
    async def preview(service: str) -> dict[str, Any]:
        """Headers a tester sends through the gateway to be served by the new version."""
        return {"service": service, "headers": manager.preview(service)}

    @router.get("/ui/rollouts", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        """The rollouts page."""
        html = rollouts_page(manager.status(), system=daemon.manifest.name)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    return router
