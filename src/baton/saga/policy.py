"""Saga policies: frozen dataclasses with documented defaults (Temporal's ``RetryPolicy`` style).

Policies are data. The state they govern (attempt counters, lease expiry) lives in the saga log and the
saga row, never here, so one policy object can be shared by every saga and every orchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass


def backoff_delay(attempt: int, *, initial: float, coefficient: float, maximum: float) -> float:
    """Delay in seconds before retry number ``attempt`` (1-based): ``initial * coefficient**(attempt-1)``, capped."""
    return float(min(maximum, initial * coefficient ** max(0, attempt - 1)))


@dataclass(frozen=True)
class StepRetry:
    """How a step's action is retried after a transient failure (any exception but ``StepFailed``, or a timeout).

    When the attempts are spent the step counts as failed and compensation starts. A timed-out or
    crashed attempt may still have had its effect, which is why the idempotency key never changes between
    attempts.
    """

    max_attempts: int = 3
    """Total attempts including the first; ``1`` means no retry."""
    initial_interval: float = 0.2
    """Seconds before the first retry."""
    backoff_coefficient: float = 2.0
    """Each further retry waits this many times longer."""
    max_interval: float = 5.0
    """Upper bound of one wait, in seconds."""
    fail_on: tuple[type[BaseException], ...] = ()
    """Exception types treated as a definite business "no", like ``StepFailed`` (e.g. ``UpstreamRejected``)."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return backoff_delay(
            attempt,
            initial=self.initial_interval,
            coefficient=self.backoff_coefficient,
            maximum=self.max_interval,
        )


@dataclass(frozen=True)
class CompensationRetry:
    """How compensations are retried: forever, with capped exponential backoff.

    A compensation is the way back to a consistent state, so giving up is never an option; after
    ``incident_after`` failed attempts the orchestrator raises one incident (the saga shows ``stuck``) and
    keeps retrying at ``max_interval``.
    """

    initial_interval: float = 0.5
    """Seconds before the first retry."""
    backoff_coefficient: float = 2.0
    """Each further retry waits this many times longer."""
    max_interval: float = 30.0
    """Upper bound of one wait, in seconds."""
    incident_after: int = 5
    """Failed attempts of one compensation after which an incident is raised (once per compensation)."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return backoff_delay(
            attempt,
            initial=self.initial_interval,
            coefficient=self.backoff_coefficient,
            maximum=self.max_interval,
        )


@dataclass(frozen=True)
class OrchestratorPolicy:
    """How an orchestrator shares work with its peers and bounds its own load."""

    max_in_flight: int = 64
    """Sagas driven at once by one orchestrator; further sagas wait for a slot (their log is already written)."""
    lease_ttl: float = 15.0
    """Seconds a saga lease lasts without renewal; a crashed peer's sagas are taken over after this."""
    heartbeat_interval: float = 5.0
    """Seconds between lease renewals of the sagas this orchestrator drives (keep well under ``lease_ttl``)."""
    sweep_interval: float = 2.0
    """Seconds between looks for sagas nobody drives (new from a peer's ``start``, or a dead peer's)."""
    stop_grace: float = 5.0
    """Seconds ``aclose()`` lets in-flight steps finish before cancelling them (they resume elsewhere)."""
