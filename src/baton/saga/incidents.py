"""Incidents: how a compensation that keeps failing reaches a human.

The orchestrator never gives up on a compensation. After ``CompensationRetry.incident_after`` failed attempts
it logs a ``saga_stuck`` entry (the saga's status becomes ``stuck``, visible in its history), hands a
:class:`SagaIncident` to the configured :class:`IncidentSink` once, and keeps retrying; when the compensation
finally succeeds the sink hears ``resolve``. Plug the telemetry incident manager (or a pager) in as a sink.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

logger = logging.getLogger("baton.saga")


@dataclass(frozen=True)
class SagaIncident:
    """One compensation of one saga that keeps failing."""

    saga_id: str
    saga_name: str
    step: str
    failures: int
    """Failed attempts when the incident was raised."""
    error: str
    """The last failure's error."""
    correlation_id: str

    @property
    def key(self) -> str:
        """Stable identity of the incident: ``"{saga_id}:{step}"``."""
        return f"{self.saga_id}:{self.step}"


class IncidentSink(Protocol):
    """Receives saga incidents. Must not raise: a failing sink would stall a compensation."""

    async def raise_incident(self, incident: SagaIncident) -> None:
        """A compensation keeps failing; a human should look."""
        ...

    async def resolve(self, incident: SagaIncident) -> None:
        """The compensation behind ``incident`` finally succeeded."""
        ...


class LoggingIncidentSink:
    """The default sink: an ``ERROR`` log line when raised, an ``INFO`` line when resolved."""

    async def raise_incident(self, incident: SagaIncident) -> None:
        """Log the incident at ``ERROR``."""
        logger.error(
            "saga %s (%s): compensation of %r failed %d times, still retrying: %s",
            incident.saga_id,
            incident.saga_name,
            incident.step,
            incident.failures,
            incident.error,
            extra={"saga_id": incident.saga_id, "correlation_id": incident.correlation_id},
        )

    async def resolve(self, incident: SagaIncident) -> None:
        """Log the resolution at ``INFO``."""
        logger.info("saga %s: compensation of %r succeeded, incident resolved", incident.saga_id, incident.step)


@dataclass
class RecordingIncidentSink:
    """A sink for tests: keeps what it was told."""

    raised: list[SagaIncident] = field(default_factory=list)
    resolved: list[SagaIncident] = field(default_factory=list)

    async def raise_incident(self, incident: SagaIncident) -> None:
        """Record ``incident`` as raised."""
        self.raised.append(incident)

    async def resolve(self, incident: SagaIncident) -> None:
        """Record ``incident`` as resolved."""
        self.resolved.append(incident)
