"""The saga engine's errors, all hanging from :class:`baton.errors.SagaError`.

::

    SagaError
    ├── StepFailed            a step's business "no": no retry, compensation starts
    ├── SagaNotFound          no saga with that id
    ├── SagaExists            a new saga's id is taken already
    ├── NonDeterminismError   a recorded log does not fit the current definition
    └── LeaseLost             another orchestrator owns the saga now          (retryable)
"""

from __future__ import annotations

from baton.errors import SagaError


class StepFailed(SagaError):
    """Raised by a step's action to say a definite business "no" (out of stock, card declined).

    The orchestrator does not retry it: it logs ``step_failed`` and compensates the steps before. The action
    promises it left no effect behind, so the failed step itself is not compensated.
    """

    status = 409
    title = "Saga step failed"


class SagaNotFound(SagaError):
    """Raised when a saga id is unknown to the store."""

    status = 404
    title = "Saga not found"


class SagaExists(SagaError):
    """Raised by :meth:`~baton.saga.store.SagaStore.create_in` when a saga with that id exists already.

    The caller's transaction should be rolled back: the new saga (and whatever the caller wrote with it) was
    not written. :meth:`~baton.saga.store.SagaStore.create` catches it and returns the existing saga instead.
    """

    status = 409
    title = "Saga exists"


class NonDeterminismError(SagaError):
    """Raised when a recorded saga log could not have been produced by the current saga definition.

    The message names the first mismatching log entry (its ``seq``), what the log says and what the
    definition expected there: a removed, renamed or reordered step.
    """

    title = "Saga definition does not match its log"

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message, seq=seq)
        self.seq = seq


class LeaseLost(SagaError):
    """Raised when an orchestrator tries to log a transition of a saga it no longer holds the lease of.

    Another orchestrator took the saga over (this one stalled past the lease expiry); this one stops driving it.
    """

    retryable = True
    status = 409
    title = "Saga lease lost"
