"""Declaring a saga: a named, ordered list of steps, each an action and its compensation.

::

    checkout = Saga(
        "checkout",
        steps=[
            Step("reserve_stock", action=reserve, compensation=release, timeout=5.0),
            Step("authorize_payment", action=authorize, compensation=void, retry=StepRetry(max_attempts=5)),
            Step("capture_payment", action=capture, compensation=refund),
            Step("confirm_order", action=confirm, compensation=cancel),
        ],
    )

An action is ``async def (ctx: StepContext) -> Mapping | None``. What it returns is logged with the step's
success and merged into ``ctx.data`` for the steps after it, so a resumed saga never re-runs a finished step
to learn its result. Declarations never wrap the functions: an action stays directly callable in a unit test.

An action whose last effect is a write to the service's own database can log its success in that write's
transaction (:meth:`StepContext.succeed_in`), and with it the saga's end when no step follows: the write and
the logged outcome commit together, in one transaction instead of two or three.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from baton.errors import ConfigError
from baton.saga.policy import StepRetry

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

Phase = Literal["action", "compensation"]
OutcomeWriter = Callable[["AsyncSession", Mapping[str, Any] | None], Awaitable[None]]


@dataclass(frozen=True)
class StepContext:
    """What an action or compensation is given."""

    saga_id: str
    saga_name: str
    step: str
    phase: Phase
    data: Mapping[str, Any]
    """The saga's input merged with the outputs of the steps that succeeded before (read-only)."""
    idempotency_key: str
    """``"{saga_id}:{step}:{phase}"``: the same on every attempt and after every resume; pass it downstream."""
    attempt: int
    """1-based attempt number of this action or compensation."""
    correlation_id: str
    """The flow's correlation id (also bound as the current correlation id while the step runs)."""
    error: str | None = None
    """For a compensation: why the saga is compensating (the failed step's error), else ``None``."""
    outcome_writer: OutcomeWriter | None = field(default=None, repr=False, compare=False)
    """Set by the orchestrator for an action it drives (:meth:`succeed_in`); ``None`` in a hand-made context."""

    async def succeed_in(self, session: AsyncSession, output: Mapping[str, Any] | None = None) -> None:
        """Log this action's success in ``session``'s transaction, and the saga's end when no step follows.

        Call it last in the transaction of the action's final local write (after the write): the write and the
        logged outcome then commit together, or neither does. ``output`` is logged as the step's output (what
        the action returns is then not used). When the transaction does not commit (the action raises), the
        attempt ends as that exception says, as if this was never called. In a compensation, or outside an
        orchestrator (an action called directly in a test), it does nothing.

        Raises:
            LeaseLost: another orchestrator owns the saga now (the transaction must not commit).
            SagaError: called twice in one attempt.
        """
        if self.outcome_writer is not None:
            await self.outcome_writer(session, output)


Action = Callable[[StepContext], Awaitable[Mapping[str, Any] | None]]
"""An action or compensation: ``async def (ctx) -> Mapping | None``."""


def idempotency_key(saga_id: str, step: str, phase: Phase) -> str:
    """The deterministic idempotency key of one step's action or compensation."""
    return f"{saga_id}:{step}:{phase}"


@dataclass(frozen=True)
class Step:
    """One step of a saga: an action and the compensation that semantically undoes it.

    The compensation must tolerate "nothing to undo": it also runs for a step whose action started but whose
    outcome is unknown (a crash or timeout mid-call).
    """

    name: str
    action: Action
    compensation: Action | None = None
    """``None`` for a step with nothing to undo (e.g. a final notification)."""
    timeout: float = 30.0
    """Seconds one attempt of the action may take; a timeout is a transient failure (retried)."""
    compensation_timeout: float | None = None
    """Seconds one attempt of the compensation may take; defaults to ``timeout``."""
    retry: StepRetry = field(default_factory=StepRetry)

    def timeout_for(self, phase: Phase) -> float:
        """The per-attempt timeout of ``phase``."""
        if phase == "compensation" and self.compensation_timeout is not None:
            return self.compensation_timeout
        return self.timeout


@dataclass(frozen=True)
class Saga:
    """A saga definition: declared once, looked up by name when a saga is started or resumed."""

    name: str
    steps: Sequence[Step]
    version: int = 1
    """Bump when the steps change; recorded per saga so old logs can be replayed against new definitions."""
    _by_name: Mapping[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.steps:
            raise ConfigError(f"saga {self.name!r} has no steps")
        steps = tuple(self.steps)
        names = [step.name for step in steps]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigError(f"saga {self.name!r} declares steps more than once: {', '.join(duplicates)}")
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "_by_name", MappingProxyType({step.name: step for step in steps}))

    def step(self, name: str) -> Step:
        """The step called ``name``; raises ``KeyError`` when the definition has none."""
        return self._by_name[name]

    def index(self, name: str) -> int:
        """Position of step ``name`` (0-based); ``-1`` when the definition has none."""
        for position, step in enumerate(self.steps):
            if step.name == name:
                return position
        return -1
