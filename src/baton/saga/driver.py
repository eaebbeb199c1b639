"""The saga driver: takes one saga from its log to its end, logging every transition before acting.

The loop is ``decide`` (what the log says comes next) → append the announcement → act → append the outcome.
Every appended entry goes through the same check as a replay (``advance``), so the driver can never write a
log that could not be resumed. A step's success is not written on its own: it commits in one transaction with
whatever comes next (the next step's announcement, or the saga's end), still before that next work starts, so
"logged before acting" holds and a forward step costs one write instead of two. Nothing is held back across a
wait: a success followed by a backoff is written first. An action may log its own success in the transaction of
its last local write (:meth:`~baton.saga.definition.StepContext.succeed_in`), with the saga's end when nothing
follows: one transaction for the write, the outcome and the end. The
:class:`~baton.saga.orchestrator.Orchestrator` owns the lifecycle, leases and concurrency around it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from baton.errors import SagaError
from baton.saga.attempt import Outcome, run_attempt
from baton.saga.definition import Phase, Saga, StepContext, idempotency_key
from baton.saga.incidents import IncidentSink, SagaIncident
from baton.saga.machine import Done, Finish, RaiseIncident, RunCompensation, RunStep, SagaState, advance, decide, fold
from baton.saga.policy import CompensationRetry
from baton.saga.records import EntryKind, LogEntry, SagaHistory, SagaRecord, SagaStatus
from baton.saga.store import SagaStore
from baton.saga.tables import utcnow
from baton.saga.tracing import end_attempt, saga_span, step_span

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass
class _Unwritten:
    """Entries already folded into a saga's state that commit with its next write (and the row's new values)."""

    entries: list[LogEntry] = field(default_factory=list)
    status: SagaStatus | None = None
    data: Mapping[str, Any] | None = None


@dataclass
class _WrittenInAction:
    """An outcome an action wrote in its own transaction: what to restore if that transaction does not commit."""

    state: SagaState
    unwritten: _Unwritten | None


class SagaDriver:
    """Drives sagas one at a time per :meth:`run` call; stateless between calls, so one serves many sagas."""

    def __init__(
        self,
        store: SagaStore,
        *,
        owner: str,
        lease_ttl: float,
        compensation_retry: CompensationRetry,
        incidents: IncidentSink,
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease_ttl = lease_ttl
        self.compensation_retry = compensation_retry
        self.incidents = incidents
        self._unwritten: dict[str, _Unwritten] = {}
        self._traceparents: dict[str, str] = {}
        self._written_in_action: dict[str, _WrittenInAction] = {}

    async def run(self, history: SagaHistory, definition: Saga) -> None:
        """Drive the saga of ``history`` with ``definition`` until it is terminal.

        Raises:
            NonDeterminismError: the log does not fit ``definition``.
            LeaseLost: another orchestrator took the saga over; stop driving it.
            StoreError: the database failed; the saga resumes from its log later.
        """
        record = history.saga
        state = fold(definition, history.entries)
        with saga_span(record, history.entries) as (span, traceparent):
            if traceparent:
                self._traceparents[record.id] = traceparent
            try:
                await self._drive(state, record)
                span.set_attribute("saga.status", state.status.value)
            finally:
                # Only an exception leaves entries unwritten; the saga resumes from its log, which lacks them (a
                # succeeded step is then run again, under the same idempotency key).
                self._unwritten.pop(record.id, None)
                self._traceparents.pop(record.id, None)
                self._written_in_action.pop(record.id, None)

    async def _drive(self, state: SagaState, record: SagaRecord) -> None:
        while True:
            decision = decide(state, incident_after=self.compensation_retry.incident_after, now=utcnow())
            if isinstance(decision, Done):
                await self._flush(state, record)
                return
            if isinstance(decision, Finish):
                kind = (
                    EntryKind.SAGA_COMPLETED if decision.status is SagaStatus.COMPLETED else EntryKind.SAGA_COMPENSATED
                )
                await self._log(state, record, kind, status=decision.status)
            elif isinstance(decision, RaiseIncident):
                await self._raise_incident(state, record, decision)
            elif isinstance(decision, RunStep):
                await self._run_step(state, record, decision)
            else:
                await self._run_compensation(state, record, decision)

    async def _attempt(
        self, state: SagaState, record: SagaRecord, decision: RunStep | RunCompensation, phase: Phase
    ) -> Outcome:
        """Wait out the backoff, commit the announcement, then (only then) run the action or compensation."""
        if decision.wait > 0:
            await self._flush(state, record)
            await asyncio.sleep(decision.wait)
        kind = EntryKind.STEP_STARTED if phase == "action" else EntryKind.COMPENSATION_STARTED
        payload = {
            "key": idempotency_key(record.id, decision.step, phase),
            "resumed": decision.resumed,
            "owner": self.owner,
        }
        traceparent = self._traceparents.get(record.id)
        if traceparent:
            # The saga's trace context travels in its log, so a run resumed elsewhere continues the same trace.
            payload["traceparent"] = traceparent
        await self._log(state, record, kind, step=decision.step, attempt=decision.attempt, payload=payload)
        step = state.definition.step(decision.step)
        with step_span(record, decision.step, phase, decision.attempt) as span:
            outcome = await run_attempt(step, self._context(state, record, decision.step, phase, decision.attempt))
            end_attempt(span, ok=outcome.ok, definite=outcome.definite, error=outcome.error)
        return outcome

    async def _run_step(self, state: SagaState, record: SagaRecord, decision: RunStep) -> None:
        retry = state.definition.step(decision.step).retry
        outcome = await self._attempt(state, record, decision, "action")
        written = self._written_in_action.pop(record.id, None)
        if written is not None:
            if outcome.ok:
                return  # the action's transaction committed its success (and the saga's end, if nothing follows)
            # That transaction rolled back: the log and the row are as they were before the action wrote.
            _restore(state, written.state)
            if written.unwritten is not None:
                self._unwritten[record.id] = written.unwritten
        status: SagaStatus | None = None
        payload: dict[str, Any]
        if outcome.ok:
            kind, payload = EntryKind.STEP_SUCCEEDED, {"output": outcome.output}
        elif not outcome.definite and decision.attempt < retry.max_attempts:
            kind, payload = EntryKind.STEP_RETRY, {"retry_in": retry.delay(decision.attempt)}
        else:
            kind, payload = EntryKind.STEP_FAILED, {"definite": outcome.definite}
            status = SagaStatus.COMPENSATING
        await self._log(
            state,
            record,
            kind,
            step=decision.step,
            attempt=decision.attempt,
            payload=payload,
            error=outcome.error,
            status=status,
            data={**state.data, **outcome.output} if outcome.ok else None,
            defer=outcome.ok,
        )

    async def _run_compensation(self, state: SagaState, record: SagaRecord, decision: RunCompensation) -> None:
        outcome = await self._attempt(state, record, decision, "compensation")
        step_state = state.steps[decision.step]
        had_incident = step_state.incident
        payload: dict[str, Any]
        if outcome.ok:
            kind, payload = EntryKind.COMPENSATION_SUCCEEDED, {"output": outcome.output}
        else:
            kind, payload = (
                EntryKind.COMPENSATION_FAILED,
                {"retry_in": self.compensation_retry.delay(step_state.comp_failures + 1)},
            )
        await self._log(
            state,
            record,
            kind,
            step=decision.step,
            attempt=decision.attempt,
            payload=payload,
            error=outcome.error,
            status=SagaStatus.COMPENSATING if outcome.ok else None,
        )
        if outcome.ok and had_incident:
            await self.incidents.resolve(self._incident(state, record, decision.step, None))

    async def _raise_incident(self, state: SagaState, record: SagaRecord, decision: RaiseIncident) -> None:
        incident = self._incident(state, record, decision.step, None)
        await self._log(
            state,
            record,
            EntryKind.SAGA_STUCK,
            step=decision.step,
            payload={"failures": decision.failures, "incident": incident.key},
            error=incident.error,
            status=SagaStatus.STUCK,
        )
        await self.incidents.raise_incident(incident)

    def _incident(self, state: SagaState, record: SagaRecord, step: str, error: str | None) -> SagaIncident:
        return SagaIncident(
            saga_id=record.id,
            saga_name=record.name,
            step=step,
            failures=state.steps[step].comp_failures,
            error=error or state.steps[step].last_error or "",
            correlation_id=record.correlation_id,
        )

    def _context(self, state: SagaState, record: SagaRecord, step: str, phase: Phase, attempt: int) -> StepContext:
        async def succeed_in(session: AsyncSession, output: Mapping[str, Any] | None) -> None:
            await self._succeed_in(state, record, step, attempt, session, output)

        return StepContext(
            saga_id=record.id,
            saga_name=record.name,
            step=step,
            phase=phase,
            data=MappingProxyType(dict(state.data)),
            idempotency_key=idempotency_key(record.id, step, phase),
            attempt=attempt,
            correlation_id=record.correlation_id,
            error=state.failure if phase == "compensation" else None,
            outcome_writer=succeed_in if phase == "action" else None,
        )

    async def _succeed_in(
        self,
        state: SagaState,
        record: SagaRecord,
        step: str,
        attempt: int,
        session: AsyncSession,
        output: Mapping[str, Any] | None,
    ) -> None:
        """Write step ``step``'s success, with the entries waiting and the saga's end when nothing follows, in
        ``session``'s transaction (see :meth:`~baton.saga.definition.StepContext.succeed_in`)."""
        if record.id in self._written_in_action:
            raise SagaError(f"saga {record.id}: step {step!r} logged its success twice", saga_id=record.id)
        before = _snapshot(state)
        unwritten = self._unwritten.pop(record.id, None)
        waiting = list(unwritten.entries) if unwritten is not None else []
        self._written_in_action[record.id] = _WrittenInAction(before, unwritten)
        succeeded = self._entry(
            state, record, EntryKind.STEP_SUCCEEDED, step=step, attempt=attempt, payload={"output": dict(output or {})}
        )
        entries = [*waiting, succeeded]
        advance(state, entries[-1])
        status = unwritten.status if unwritten is not None else None
        decision = decide(state, incident_after=self.compensation_retry.incident_after, now=utcnow())
        if isinstance(decision, Finish):
            completed = decision.status is SagaStatus.COMPLETED
            entries.append(
                self._entry(state, record, EntryKind.SAGA_COMPLETED if completed else EntryKind.SAGA_COMPENSATED)
            )
            advance(state, entries[-1])
            status = decision.status
        await self.store.append_entries_in(
            await session.connection(),
            record.id,
            owner=self.owner,
            expected_seq=before.last_seq - len(waiting),
            entries=entries,
            lease_ttl=self.lease_ttl,
            status=status,
            data=dict(state.data),
        )

    @staticmethod
    def _entry(
        state: SagaState,
        record: SagaRecord,
        kind: EntryKind,
        *,
        step: str | None = None,
        attempt: int | None = None,
        payload: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> LogEntry:
        """The entry that comes next in ``state``'s log (not folded in yet)."""
        return LogEntry(
            saga_id=record.id,
            seq=state.last_seq + 1,
            kind=kind,
            at=utcnow(),
            step=step,
            attempt=attempt,
            payload=dict(payload or {}),
            error=error,
        )

    async def _log(
        self,
        state: SagaState,
        record: SagaRecord,
        kind: EntryKind,
        *,
        step: str | None = None,
        attempt: int | None = None,
        payload: Mapping[str, Any] | None = None,
        error: str | None = None,
        status: SagaStatus | None = None,
        data: Mapping[str, Any] | None = None,
        defer: bool = False,
    ) -> None:
        """Fold the entry into ``state``, then write it with any entries waiting; ``defer`` lets it wait too."""
        entry = self._entry(state, record, kind, step=step, attempt=attempt, payload=payload, error=error)
        # The orchestrator's own transitions go through the same check as a replay: a bug here would
        # write a log that could not be resumed, so fail before writing or acting on it.
        advance(state, entry)
        unwritten = self._unwritten.setdefault(record.id, _Unwritten())
        unwritten.entries.append(entry)
        unwritten.status = status or unwritten.status
        unwritten.data = data if data is not None else unwritten.data
        if not defer:
            await self._flush(state, record)

    async def _flush(self, state: SagaState, record: SagaRecord) -> None:
        unwritten = self._unwritten.pop(record.id, None)
        if unwritten is None or not unwritten.entries:
            return
        await self.store.append_entries(
            record.id,
            owner=self.owner,
            expected_seq=state.last_seq - len(unwritten.entries),
            entries=unwritten.entries,
            lease_ttl=self.lease_ttl,
            status=unwritten.status,
            data=unwritten.data,
        )


def _snapshot(state: SagaState) -> SagaState:
    """A copy of ``state`` that later changes to ``state`` leave as it is (the definition is shared)."""
    return dataclasses.replace(
        state, data=dict(state.data), steps={name: dataclasses.replace(step) for name, step in state.steps.items()}
    )


def _restore(state: SagaState, snapshot: SagaState) -> None:
    """Put ``state`` back as it was when ``snapshot`` was taken (in place: callers hold ``state``)."""
    for state_field in dataclasses.fields(state):
        setattr(state, state_field.name, getattr(snapshot, state_field.name))
