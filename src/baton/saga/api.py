"""HTTP read access to saga histories: an ``APIRouter`` a service hosting an orchestrator mounts.

::

    service.app.include_router(saga_router(orchestrator))

``GET /v1/sagas?status=&correlation_id=&limit=`` lists sagas (newest first, ``limit`` ≤ 100);
``GET /v1/sagas/{id}`` returns the saga and its ordered log (``SagaHistory.to_dict()``), which is what
``baton saga show <id>`` renders; an unknown id raises ``SagaNotFound`` (404 problem+json through the kit's
error handlers).
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, Query

from baton.saga.records import SagaStatus
from baton.saga.store import SagaStore


class HasStore(Protocol):
    """Anything exposing a saga store: an ``Orchestrator`` or a ``SagaComponent``."""

    @property
    def store(self) -> SagaStore: ...


def saga_router(source: HasStore | SagaStore, *, prefix: str = "/v1/sagas") -> APIRouter:
    """Routes listing sagas and showing one saga's history, read from ``source``'s store.

    The store is looked up per request, so a ``SagaComponent`` can be passed before the service starts.
    """

    def current() -> SagaStore:
        return source.store if hasattr(source, "store") else source  # type: ignore[return-value]

    router = APIRouter(prefix=prefix, tags=["sagas"])

    @router.get("", summary="List sagas")
    async def list_sagas(
        status: SagaStatus | None = None,
        correlation_id: str | None = None,
        limit: int = Query(default=50, ge=1, le=100),
    ) -> dict[str, Any]:
        records = await current().list(
            status=status.value if status else None, correlation_id=correlation_id, limit=limit
        )
        return {"items": [record.to_dict() for record in records]}

    @router.get("/{saga_id}", summary="A saga and its ordered log")
    async def show_saga(saga_id: str) -> dict[str, Any]:
        history = await current().history(saga_id)
        return history.to_dict()

    return router
