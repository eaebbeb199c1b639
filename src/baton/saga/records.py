"""What the saga store holds, as plain values: a saga's row, its log entries, its history."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class SagaStatus(enum.StrEnum):
    """Where a saga is. ``completed`` and ``compensated`` are terminal; ``stuck`` is compensating with an
    open incident (the orchestrator keeps retrying)."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    STUCK = "stuck"
    COMPLETED = "completed"
    COMPENSATED = "compensated"

    @property
    def terminal(self) -> bool:
        """True when nothing more will happen to the saga."""
        return self in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED)


TERMINAL_STATUSES: tuple[str, ...] = (SagaStatus.COMPLETED.value, SagaStatus.COMPENSATED.value)


class EntryKind(enum.StrEnum):
    """Kinds of saga log entries. Each ``*_started`` entry is committed before the work it announces."""

    SAGA_STARTED = "saga_started"
    STEP_STARTED = "step_started"
    STEP_SUCCEEDED = "step_succeeded"
    STEP_RETRY = "step_retry"
    STEP_FAILED = "step_failed"
    COMPENSATION_STARTED = "compensation_started"
    COMPENSATION_SUCCEEDED = "compensation_succeeded"
    COMPENSATION_FAILED = "compensation_failed"
    SAGA_STUCK = "saga_stuck"
    SAGA_COMPLETED = "saga_completed"
    SAGA_COMPENSATED = "saga_compensated"


@dataclass(frozen=True)
class LogEntry:
    """One append-only saga log entry."""

    saga_id: str
    seq: int
    """1-based position in the saga's log."""
    kind: EntryKind
    at: datetime
    """When the entry was written (UTC)."""
    step: str | None = None
    attempt: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    """Kind-specific: the input (``saga_started``), the step output (``step_succeeded``), the retry delay…"""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (API, CLI ``--json``)."""
        return {
            "seq": self.seq,
            "kind": self.kind.value,
            "at": self.at.isoformat(),
            "step": self.step,
            "attempt": self.attempt,
            "payload": self.payload,
            "error": self.error,
        }


@dataclass(frozen=True)
class SagaRecord:
    """A saga's row: a projection of its log kept for queries (status filters, listings)."""

    id: str
    name: str
    status: SagaStatus
    data: dict[str, Any]
    """Input merged with the outputs of succeeded steps."""
    correlation_id: str
    version: int
    created_at: datetime
    updated_at: datetime
    last_seq: int
    owner: str | None = None
    """The orchestrator holding the lease, if any."""
    lease_expires_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (API, CLI ``--json``)."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "data": self.data,
            "correlation_id": self.correlation_id,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "owner": self.owner,
        }


@dataclass(frozen=True)
class SagaHistory:
    """A saga and its ordered log: what ``GET /v1/sagas/{id}`` and ``baton saga show`` display."""

    saga: SagaRecord
    entries: tuple[LogEntry, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"saga": self.saga.to_dict(), "entries": [entry.to_dict() for entry in self.entries]}
