"""Hosting an orchestrator in a service: a :class:`~baton.kit.component.Component` named ``"saga"``.

::

    sagas = SagaComponent([checkout])
    service.add_component(sagas)
    service.app.include_router(saga_router(sagas))
    ...
    await sagas.orchestrator.start("checkout", {...}, saga_id=order_id)

``start`` applies the saga tables' migrations (version table ``baton_saga_version``; pass
``migrate=False`` when the service applies ``baton.saga.MIGRATIONS`` itself), builds the orchestrator on
the instance's database (owner = the instance id, so a restarted instance takes its own sagas back at
once) and resumes unfinished sagas; ``drain`` stops taking new sagas;
``stop`` lets in-flight steps finish for ``OrchestratorPolicy.stop_grace`` seconds, then cancels and
releases the rest. The orchestrator is also published as ``ctx.extras["saga"]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from baton.errors import SagaError
from baton.saga.definition import Saga
from baton.saga.incidents import IncidentSink
from baton.saga.orchestrator import Orchestrator
from baton.saga.policy import CompensationRetry, OrchestratorPolicy
from baton.saga.store import SagaStore, SqlSagaStore

if TYPE_CHECKING:
    from baton.kit.component import InstanceContext


class SagaComponent:
    """The saga orchestrator as a service component."""

    name = "saga"

    def __init__(
        self,
        sagas: Iterable[Saga],
        *,
        policy: OrchestratorPolicy = OrchestratorPolicy(),
        compensation_retry: CompensationRetry = CompensationRetry(),
        incidents: IncidentSink | None = None,
        migrate: bool = True,
    ) -> None:
        self._migrate = migrate
        self._sagas = tuple(sagas)
        self._policy = policy
        self._compensation_retry = compensation_retry
        self._incidents = incidents
        self._orchestrator: Orchestrator | None = None

    @property
    def orchestrator(self) -> Orchestrator:
        """The running orchestrator; raises ``SagaError`` before ``start``."""
        if self._orchestrator is None:
            raise SagaError("the saga component is not started")
        return self._orchestrator

    @property
    def store(self) -> SagaStore:
        """The orchestrator's store (what :func:`baton.saga.api.saga_router` reads)."""
        return self.orchestrator.store

    async def start(self, ctx: InstanceContext) -> None:
        """Build the orchestrator on the instance's database and resume unfinished sagas."""
        if ctx.engine is None:
            raise SagaError("the saga component needs the instance's database engine")
        if self._migrate:
            # Imported here: the kit's migrator pulls in the whole kit, which only a hosting service needs.
            from baton.kit.migrator import migrate
            from baton.saga import MIGRATIONS

            await migrate(ctx.engine, [MIGRATIONS])
        orchestrator = Orchestrator(
            SqlSagaStore(ctx.engine),
            self._sagas,
            owner=ctx.instance,
            policy=self._policy,
            compensation_retry=self._compensation_retry,
            incidents=self._incidents,
        )
        await orchestrator.open()
        self._orchestrator = orchestrator
        ctx.extras["saga"] = orchestrator

    async def check(self) -> None:
        """Ready while the orchestrator accepts sagas."""
        if self._orchestrator is None or not self._orchestrator.accepting:
            raise SagaError("saga orchestrator not accepting work")

    async def drain(self) -> None:
        """Stop taking new sagas; those in flight go on."""
        if self._orchestrator is not None:
            await self._orchestrator.drain()

    async def stop(self) -> None:
        """Finish or cancel in-flight steps and release leases (idempotent)."""
        if self._orchestrator is not None:
            await self._orchestrator.aclose()
