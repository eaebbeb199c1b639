"""The replayer: feed recorded saga logs through the current definition, without side effects.

Temporal's replayer idea: before deploying a changed saga definition, run the logs of sagas recorded in
production (exported as JSON by ``GET /v1/sagas/{id}`` or ``baton saga show --json``) through it. A log the
new definition could not have produced (a step removed, renamed or reordered) fails with a
:class:`NonDeterminismError` naming the first mismatching entry; such sagas would be stranded mid-flight by
the deployment.

::

    for path in Path("tests/sagas/recorded").glob("*.json"):
        replay(checkout, load_history(json.loads(path.read_text())))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from baton.saga.definition import Saga
from baton.saga.errors import NonDeterminismError
from baton.saga.machine import fold
from baton.saga.records import EntryKind, LogEntry, SagaHistory, SagaRecord, SagaStatus
from baton.saga.tables import as_utc


@dataclass(frozen=True)
class ReplayResult:
    """What a recorded log amounts to under the current definition."""

    status: SagaStatus
    """The status the log leads to (``running`` for a log of a saga still in flight)."""
    steps_run: tuple[str, ...]
    """Steps whose action started, in order."""
    compensations_run: tuple[str, ...]
    """Steps whose compensation started, in order."""
    entries: int


def replay(definition: Saga, history: SagaHistory | Sequence[LogEntry]) -> ReplayResult:
    """Check a recorded log against ``definition`` and summarise it; never calls an action.

    Raises:
        NonDeterminismError: the log names another saga, or an entry does not fit the definition.
    """
    if isinstance(history, SagaHistory):
        if history.saga.name != definition.name:
            raise NonDeterminismError(
                f"log of saga {history.saga.id} belongs to {history.saga.name!r}, not {definition.name!r}"
            )
        entries: Sequence[LogEntry] = history.entries
    else:
        entries = history
    state = fold(definition, entries)
    started = _first_seen(entries, EntryKind.STEP_STARTED)
    compensated = _first_seen(entries, EntryKind.COMPENSATION_STARTED)
    return ReplayResult(status=state.status, steps_run=started, compensations_run=compensated, entries=len(entries))


def load_history(raw: Mapping[str, Any]) -> SagaHistory:
    """Rebuild a :class:`SagaHistory` from its JSON form (:meth:`SagaHistory.to_dict`)."""
    saga = raw["saga"]
    entries = tuple(
        LogEntry(
            saga_id=saga["id"],
            seq=int(item["seq"]),
            kind=EntryKind(item["kind"]),
            at=as_utc(datetime.fromisoformat(item["at"])),
            step=item.get("step"),
            attempt=item.get("attempt"),
            payload=dict(item.get("payload") or {}),
            error=item.get("error"),
        )
        for item in raw["entries"]
    )
    record = SagaRecord(
        id=saga["id"],
        name=saga["name"],
        status=SagaStatus(saga["status"]),
        data=dict(saga.get("data") or {}),
        correlation_id=saga.get("correlation_id", ""),
        version=int(saga.get("version", 1)),
        created_at=as_utc(datetime.fromisoformat(saga["created_at"])),
        updated_at=as_utc(datetime.fromisoformat(saga["updated_at"])),
        last_seq=entries[-1].seq if entries else 0,
        owner=saga.get("owner"),
    )
    return SagaHistory(saga=record, entries=entries)


def _first_seen(entries: Sequence[LogEntry], kind: EntryKind) -> tuple[str, ...]:
    seen: list[str] = []
    for entry in entries:
        if entry.kind is kind and entry.step is not None and entry.step not in seen:
            seen.append(entry.step)
    return tuple(seen)
