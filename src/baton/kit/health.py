"""Health endpoints: ``/livez`` (the process answers) and ``/readyz`` (it can do useful work).

``/readyz`` runs every readiness check concurrently, each under a timeout, and answers ``200
{"status": "ready"}`` or ``503`` problem+json naming the failing checks. ``?verbose`` adds every check with
``ok``, ``reason`` and ``duration_ms``. The checks a service gets: ``shutting_down`` (fails as soon as
draining starts — the first step of graceful shutdown), ``db``, ``bus`` (when NATS is configured), one per
component, one per declared dependency, and the service's custom ones.

Declared dependencies (``Service(dependencies=["inventory"])``) are checked by a pluggable
:data:`DependencyCheck`; the default, :func:`assume_available`, passes — discovery can plug in a resolver
that fails while the registry knows no ready instance of the target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from baton.kit.problems import problem_response, problem_type

__all__ = [
    "CHECK_TIMEOUT",
    "Check",
    "CheckResult",
    "DependencyCheck",
    "Readiness",
    "assume_available",
    "health_router",
]

#: Seconds one readiness check may take before it counts as failed.
CHECK_TIMEOUT = 2.0

Check = Callable[[], Awaitable[None]]
"""A readiness check: returns when healthy, raises (message = reason) when not."""

DependencyCheck = Callable[[str], Awaitable[None]]
"""Checks that a declared dependency (a service name) is usable; raises with the reason when not."""


async def assume_available(service: str) -> None:
    """The default :data:`DependencyCheck`: every declared dependency counts as available."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one readiness check."""

    name: str
    ok: bool
    reason: str | None
    duration_ms: float


class Readiness:
    """The named readiness checks of a service, run together."""

    def __init__(self, *, timeout: float = CHECK_TIMEOUT) -> None:
        self.timeout = timeout
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        """Register ``check`` under ``name`` (replacing a check of the same name)."""
        self._checks[name] = check

    def remove(self, name: str) -> None:
        """Forget the check called ``name`` (no-op when there is none)."""
        self._checks.pop(name, None)

    def names(self) -> list[str]:
        """The registered check names, in registration order."""
        return list(self._checks)

    async def _run_one(self, name: str, check: Check) -> CheckResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                await check()
        except TimeoutError:
            reason: str | None = f"timed out after {self.timeout}s"
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
        else:
            reason = None
        return CheckResult(name, reason is None, reason, round((time.perf_counter() - started) * 1000, 3))

    async def run(self, *, skip: Collection[str] = ()) -> list[CheckResult]:
        """Run every check (but those named in ``skip``) concurrently; one result per check, in registration order."""
        checks = [(n, c) for n, c in self._checks.items() if n not in skip]
        return list(await asyncio.gather(*(self._run_one(n, c) for n, c in checks)))


def health_router(readiness: Readiness) -> APIRouter:
    """``/livez`` and ``/readyz`` over ``readiness`` (hidden from the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/readyz")
    async def readyz(request: Request) -> Response:
        results = await readiness.run()
        verbose = "verbose" in request.query_params
        checks = [{"name": r.name, "ok": r.ok, "reason": r.reason, "duration_ms": r.duration_ms} for r in results]
        failing = [r for r in results if not r.ok]
        if not failing:
            body: dict[str, object] = {"status": "ready"}
            if verbose:
                body["checks"] = checks
            return JSONResponse(body)
        return problem_response(
            503,
            type=problem_type("NotReady"),
            title="Not ready",
            detail="; ".join(f"{r.name}: {r.reason}" for r in failing),
            instance=request.url.path,
            checks=checks if verbose else [c for c in checks if not c["ok"]],
        )

    return router
