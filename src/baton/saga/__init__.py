"""baton.saga: durable sagas (orchestrated and choreographed).

Declare a saga once as steps (action + compensation), host an :class:`Orchestrator` (or the
:class:`SagaComponent` in a service), and every transition is logged in the service's own database before it
is acted on, so a killed process resumes exactly where it stopped. See ``docs/sagas.md``.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from baton.saga.choreography import FlowEvent, flow_timeline, record_event, record_flow_event
from baton.saga.component import SagaComponent
from baton.saga.definition import Action, Saga, Step, StepContext, idempotency_key
from baton.saga.errors import LeaseLost, NonDeterminismError, SagaExists, SagaNotFound, StepFailed
from baton.saga.incidents import IncidentSink, LoggingIncidentSink, RecordingIncidentSink, SagaIncident
from baton.saga.orchestrator import Orchestrator
from baton.saga.policy import CompensationRetry, OrchestratorPolicy, StepRetry
from baton.saga.records import EntryKind, LogEntry, SagaHistory, SagaRecord, SagaStatus
from baton.saga.replay import ReplayResult, replay
from baton.saga.store import SagaStore, SqlSagaStore
from baton.saga.tables import metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "baton_saga_version"


def __getattr__(name: str) -> Any:
    # ``MIGRATIONS`` is built on first use: importing the kit's migrator pulls in the whole service kit
    # (FastAPI, Alembic), which a process that only drives or reads sagas should not pay for.
    if name == "MIGRATIONS":
        from baton.kit.migrator import MigrationSource

        return MigrationSource(MIGRATIONS_DIR, VERSION_TABLE)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from baton.kit.migrator import MigrationSource

    #: The saga tables' Alembic history, as ``baton.kit.migrator.migrate`` takes it (``SagaComponent`` applies it).
    MIGRATIONS: MigrationSource

__all__ = [
    "MIGRATIONS",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "Action",
    "CompensationRetry",
    "EntryKind",
    "FlowEvent",
    "IncidentSink",
    "LeaseLost",
    "LogEntry",
    "LoggingIncidentSink",
    "NonDeterminismError",
    "Orchestrator",
    "OrchestratorPolicy",
    "RecordingIncidentSink",
    "ReplayResult",
    "Saga",
    "SagaComponent",
    "SagaExists",
    "SagaHistory",
    "SagaIncident",
    "SagaNotFound",
    "SagaRecord",
    "SagaStatus",
    "SagaStore",
    "SqlSagaStore",
    "Step",
    "StepContext",
    "StepFailed",
    "StepRetry",
    "flow_timeline",
    "idempotency_key",
    "metadata",
    "record_event",
    "record_flow_event",
    "replay",
]
