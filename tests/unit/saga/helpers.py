"""Shared builders for the saga unit tests."""

from __future__ import annotations

from baton.saga import CompensationRetry, OrchestratorPolicy, Saga, Step, StepRetry

STEPS = ("reserve", "authorize", "capture", "confirm")

FAST_RETRY = StepRetry(max_attempts=3, initial_interval=0.01, max_interval=0.02)
FAST_COMPENSATION = CompensationRetry(initial_interval=0.005, max_interval=0.01, incident_after=3)
FAST_POLICY = OrchestratorPolicy(lease_ttl=5.0, heartbeat_interval=1.0, sweep_interval=0.05, stop_grace=0.5)


def four_steps(recorder, *, timeout: float = 2.0, names: tuple[str, ...] = STEPS, version: int = 1) -> Saga:
    """A 4-step saga whose actions and compensations are all ``recorder``."""
    return Saga(
        "checkout",
        steps=[Step(name, action=recorder, compensation=recorder, timeout=timeout, retry=FAST_RETRY) for name in names],
        version=version,
    )
