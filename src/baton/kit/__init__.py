"""The service kit: build a production-ready service from a name, routes and tables.

::

    from baton.kit import Service, SessionDep

    service = Service("hello")

    @service.get("/v1/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

Run it with ``python -m baton.kit.serve module:service``.

The names below are imported on first use (PEP 562): ``from baton.kit.settings import InstanceSettings`` in
the control plane must not pull in FastAPI, SQLAlchemy and Alembic with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from baton._lazy import lazy_exports

if TYPE_CHECKING:
    from baton.kit.component import Component, InstanceContext
    from baton.kit.health import CheckResult, DependencyCheck, assume_available
    from baton.kit.idempotency import IDEMPOTENCY_HEADER, REPLAYED_HEADER, IdempotencyPolicy, idempotent
    from baton.kit.migrator import MigrationSource, migrate, write_revision
    from baton.kit.problems import PROBLEM_JSON, problem_response
    from baton.kit.routing import APIRouter, KitRoute
    from baton.kit.runtime import Phase
    from baton.kit.service import Service, SessionDep, current_service
    from baton.kit.settings import InstanceSettings, ServiceSettings

__all__ = [
    "IDEMPOTENCY_HEADER",
    "PROBLEM_JSON",
    "REPLAYED_HEADER",
    "APIRouter",
    "CheckResult",
    "Component",
    "DependencyCheck",
    "IdempotencyPolicy",
    "InstanceContext",
    "InstanceSettings",
    "KitRoute",
    "MigrationSource",
    "Phase",
    "Service",
    "ServiceSettings",
    "SessionDep",
    "assume_available",
    "current_service",
    "idempotent",
    "migrate",
    "problem_response",
    "write_revision",
]

_HOMES = {
    "Component": "component",
    "InstanceContext": "component",
    "CheckResult": "health",
    "DependencyCheck": "health",
    "assume_available": "health",
    "IDEMPOTENCY_HEADER": "idempotency",
    "REPLAYED_HEADER": "idempotency",
    "IdempotencyPolicy": "idempotency",
    "idempotent": "idempotency",
    "MigrationSource": "migrator",
    "migrate": "migrator",
    "write_revision": "migrator",
    "PROBLEM_JSON": "problems",
    "problem_response": "problems",
    "APIRouter": "routing",
    "KitRoute": "routing",
    "Phase": "runtime",
    "Service": "service",
    "SessionDep": "service",
    "current_service": "service",
    "InstanceSettings": "settings",
    "ServiceSettings": "settings",
}


__getattr__, __dir__ = lazy_exports(__name__, __all__, _HOMES)
