"""The service kit: build a production-ready service from a name, routes and tables.

::

    from baton.kit import Service, SessionDep

    service = Service("hello")

    @service.get("/v1/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

Run it with ``python -m baton.kit.serve module:service``.
"""

from __future__ import annotations

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
