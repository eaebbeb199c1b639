"""The saga state machine, as pure functions over the log: ``fold`` a log into a state, ``decide`` what next.

The orchestrator and the replayer share this code, which is what makes resuming and replaying the same
thing: after a crash the orchestrator folds the log it finds and carries on with whatever ``decide`` says,
and the replayer folds a recorded log through today's definition and reports the first entry that
definition could not have produced.

Rules:

* forward phase: steps run in declaration order; a ``step_started`` without an outcome means "run the action
  again, same attempt, same idempotency key"; a ``step_retry`` means "next attempt, after the logged delay".
* ``step_failed`` switches to compensation. Compensated are, in reverse order, the steps that *started*
  (an unknown outcome may have had its effect), except a step that failed with a definite business "no"
  and steps declared without a compensation.
* a compensation is retried until it succeeds; once it has failed ``incident_after`` times a ``saga_stuck``
  entry records the incident (once) and the retries go on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from baton.saga.definition import Saga
from baton.saga.errors import NonDeterminismError
from baton.saga.records import EntryKind, LogEntry, SagaStatus

Phase = Literal["forward", "compensating", "completed", "compensated"]


@dataclass
class StepState:
    """What the log says about one step."""

    name: str
    attempt: int = 0
    """Highest attempt of the action started so far (0: never started)."""
    open: bool = False
    """An attempt started and has no logged outcome (crash or cancellation mid-action)."""
    succeeded: bool = False
    failed: bool = False
    definite: bool = False
    """The failure was a business "no": the action left nothing to undo."""
    retry_in: float = 0.0
    retry_logged_at: datetime | None = None
    comp_attempt: int = 0
    comp_open: bool = False
    comp_failures: int = 0
    comp_done: bool = False
    comp_retry_in: float = 0.0
    comp_retry_logged_at: datetime | None = None
    incident: bool = False
    last_error: str | None = None
    """The error of the latest failed attempt (action or compensation)."""

    @property
    def started(self) -> bool:
        """True once any attempt of the action started."""
        return self.attempt > 0


@dataclass
class SagaState:
    """A saga folded from its log."""

    definition: Saga
    data: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepState] = field(default_factory=dict)
    phase: Phase = "forward"
    failure: str | None = None
    """The error that made the saga compensate."""
    last_seq: int = 0

    def to_compensate(self) -> list[StepState]:
        """Steps to compensate, in the order compensations run (reverse of the steps that started)."""
        targets = []
        for step in reversed(self.definition.steps):
            state = self.steps[step.name]
            if state.started and not state.definite and step.compensation is not None:
                targets.append(state)
        return targets

    def current_step(self) -> StepState | None:
        """The first step that has not succeeded (forward phase), or ``None`` when all did."""
        return next((s for s in self.steps.values() if not s.succeeded), None)

    def current_compensation(self) -> StepState | None:
        """The next compensation not yet done (compensating phase), or ``None`` when all are."""
        return next((s for s in self.to_compensate() if not s.comp_done), None)

    @property
    def status(self) -> SagaStatus:
        """The saga's status as the log tells it."""
        if self.phase == "completed":
            return SagaStatus.COMPLETED
        if self.phase == "compensated":
            return SagaStatus.COMPENSATED
        if self.phase == "compensating":
            current = self.current_compensation()
            return SagaStatus.STUCK if current is not None and current.incident else SagaStatus.COMPENSATING
        return SagaStatus.RUNNING


@dataclass(frozen=True)
class RunStep:
    """Run (or re-run) one attempt of a step's action."""

    step: str
    attempt: int
    resumed: bool = False
    """The attempt was started before and its outcome is unknown."""
    wait: float = 0.0
    """Seconds of backoff still owed before this attempt (from the logged retry delay)."""


@dataclass(frozen=True)
class RunCompensation:
    """Run (or re-run) one attempt of a step's compensation."""

    step: str
    attempt: int
    resumed: bool = False
    wait: float = 0.0


@dataclass(frozen=True)
class RaiseIncident:
    """A compensation failed ``incident_after`` times and no incident is logged for it yet."""

    step: str
    failures: int


@dataclass(frozen=True)
class Finish:
    """Write the terminal entry (``saga_completed`` or ``saga_compensated``)."""

    status: SagaStatus


@dataclass(frozen=True)
class Done:
    """Nothing left to do: the saga is terminal."""

    status: SagaStatus


Decision = RunStep | RunCompensation | RaiseIncident | Finish | Done


def fold(definition: Saga, entries: Iterable[LogEntry]) -> SagaState:
    """Fold a saga log into its state, checking every entry is one ``definition`` could have produced.

    Raises:
        NonDeterminismError: the first entry that does not fit (a removed, renamed or reordered step).
    """
    state = SagaState(definition=definition, steps={s.name: StepState(s.name) for s in definition.steps})
    for entry in entries:
        advance(state, entry)
    if state.last_seq == 0:
        raise NonDeterminismError(f"saga {definition.name}: empty log (no saga_started entry)")
    return state


def advance(state: SagaState, entry: LogEntry) -> None:
    """Apply one more log entry to ``state`` (in place), checking it fits first.

    Raises:
        NonDeterminismError: ``entry`` is not one the definition could produce at this point.
    """
    _check(state, entry)
    _apply(state, entry)
    state.last_seq = entry.seq


def decide(state: SagaState, *, incident_after: int, now: datetime) -> Decision:
    """What the orchestrator does next for a saga in ``state``."""
    if state.phase in ("completed", "compensated"):
        return Done(state.status)
    if state.phase == "forward":
        step = state.current_step()
        if step is None:
            return Finish(SagaStatus.COMPLETED)
        if step.open:
            return RunStep(step.name, step.attempt, resumed=True)
        return RunStep(step.name, step.attempt + 1, wait=_owed(step.retry_in, step.retry_logged_at, now))
    comp = state.current_compensation()
    if comp is None:
        return Finish(SagaStatus.COMPENSATED)
    if comp.comp_failures >= incident_after and not comp.incident:
        return RaiseIncident(comp.name, comp.comp_failures)
    if comp.comp_open:
        return RunCompensation(comp.name, comp.comp_attempt, resumed=True)
    return RunCompensation(
        comp.name,
        comp.comp_attempt + 1,
        wait=_owed(comp.comp_retry_in, comp.comp_retry_logged_at, now),
    )


def _owed(delay: float, logged_at: datetime | None, now: datetime) -> float:
    if logged_at is None or delay <= 0:
        return 0.0
    return max(0.0, delay - (now - logged_at).total_seconds())


def _expected(state: SagaState) -> list[tuple[EntryKind, str | None]]:
    """The (kind, step) pairs that may come next in the log."""
    if state.last_seq == 0:
        return [(EntryKind.SAGA_STARTED, None)]
    if state.phase in ("completed", "compensated"):
        return []
    if state.phase == "forward":
        step = state.current_step()
        if step is None:
            return [(EntryKind.SAGA_COMPLETED, None)]
        if step.open:
            kinds = [EntryKind.STEP_STARTED, EntryKind.STEP_SUCCEEDED, EntryKind.STEP_RETRY, EntryKind.STEP_FAILED]
            return [(kind, step.name) for kind in kinds]
        return [(EntryKind.STEP_STARTED, step.name)]
    comp = state.current_compensation()
    if comp is None:
        return [(EntryKind.SAGA_COMPENSATED, None)]
    kinds = [EntryKind.COMPENSATION_STARTED, EntryKind.SAGA_STUCK]
    if comp.comp_open:
        kinds += [EntryKind.COMPENSATION_SUCCEEDED, EntryKind.COMPENSATION_FAILED]
    return [(kind, comp.name) for kind in kinds]


def _check(state: SagaState, entry: LogEntry) -> None:
    expected = _expected(state)
    if (entry.kind, entry.step) in expected:
        return
    definition = state.definition
    wanted = " or ".join(f"{kind.value}{f' {step!r}' if step else ''}" for kind, step in expected) or "nothing"
    found = f"{entry.kind.value}{f' {entry.step!r}' if entry.step else ''}"
    hint = ""
    if entry.step is not None and definition.index(entry.step) < 0:
        hint = f" (step {entry.step!r} is not in the definition: removed or renamed?)"
    raise NonDeterminismError(
        f"saga {definition.name} v{definition.version}: log entry {entry.seq} is {found}, "
        f"but the definition expects {wanted} there{hint}",
        seq=entry.seq,
    )


def _apply(state: SagaState, entry: LogEntry) -> None:
    kind = entry.kind
    if kind is EntryKind.SAGA_STARTED:
        state.data = dict(entry.payload.get("input", {}))
        return
    if kind is EntryKind.SAGA_COMPLETED:
        state.phase = "completed"
        return
    if kind is EntryKind.SAGA_COMPENSATED:
        state.phase = "compensated"
        return
    assert entry.step is not None  # _check only lets step kinds through with their step
    step = state.steps[entry.step]
    if kind is EntryKind.STEP_STARTED:
        step.attempt, step.open = entry.attempt or step.attempt + 1, True
    elif kind is EntryKind.STEP_SUCCEEDED:
        step.open, step.succeeded = False, True
        state.data.update(entry.payload.get("output") or {})
    elif kind is EntryKind.STEP_RETRY:
        step.open, step.last_error = False, entry.error
        step.retry_in, step.retry_logged_at = float(entry.payload.get("retry_in", 0.0)), entry.at
    elif kind is EntryKind.STEP_FAILED:
        step.open, step.failed, step.last_error = False, True, entry.error
        step.definite = bool(entry.payload.get("definite", False))
        state.phase, state.failure = "compensating", entry.error
    elif kind is EntryKind.COMPENSATION_STARTED:
        step.comp_attempt, step.comp_open = entry.attempt or step.comp_attempt + 1, True
    elif kind is EntryKind.COMPENSATION_SUCCEEDED:
        step.comp_open, step.comp_done = False, True
    elif kind is EntryKind.COMPENSATION_FAILED:
        step.comp_open, step.last_error = False, entry.error
        step.comp_failures += 1
        step.comp_retry_in, step.comp_retry_logged_at = float(entry.payload.get("retry_in", 0.0)), entry.at
    elif kind is EntryKind.SAGA_STUCK:
        step.incident = True
