"""What a rollout is doing: its phase, the new version's traffic weight, its timeline, and the actions it asks for.

The controllers (:mod:`~baton.delivery.canary`, :mod:`~baton.delivery.bluegreen`) are pure state machines: they
take the time and analyses as inputs and return :data:`Action` values; the runner
(:mod:`~baton.delivery.runner`) carries the actions out against the gateway and the supervisor. That split keeps
every transition unit-testable, table-driven, without processes or clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from baton.delivery.analysis import Analysis

__all__ = ["TERMINAL", "Action", "Complete", "Phase", "Rollback", "RolloutState", "SetWeight"]


class Phase(StrEnum):
    """Where a rollout stands (Argo Rollouts' vocabulary)."""

    PROGRESSING = "progressing"
    """Canary steps are running, or blue-green is previewing."""
    PAUSED = "paused"
    """Waiting for ``baton rollout promote`` (blue-green without auto-promotion)."""
    SWITCHED = "switched"
    """Blue-green: all traffic on the new version, the old one still warm."""
    HEALTHY = "healthy"
    """Done: the new version is the stable one."""
    ROLLED_BACK = "rolled_back"
    """Analysis failed: traffic back on the stable version, the new one stopped, an incident opened."""
    ABORTED = "aborted"
    """Stopped by the operator (``abort`` or ``undo``); traffic back on the stable version."""


TERMINAL = frozenset({Phase.HEALTHY, Phase.ROLLED_BACK, Phase.ABORTED})
"""Phases a rollout never leaves."""


@dataclass(frozen=True, slots=True)
class SetWeight:
    """Send ``weight`` percent of the traffic to the new version, the rest to the stable one."""

    weight: int


@dataclass(frozen=True, slots=True)
class Complete:
    """The new version becomes the stable one; the previous version's instances are stopped."""


@dataclass(frozen=True, slots=True)
class Rollback:
    """Stop the new version's instances (traffic already moved away); ``failed`` opens an incident."""

    reason: str
    failed: bool = True
    """``True`` when analysis failed (incident), ``False`` when the operator aborted."""


Action = SetWeight | Complete | Rollback
"""What a controller asks the runner to do, in order."""


@dataclass
class RolloutState:
    """The observable state of one rollout (shown by ``baton rollout status`` and the dashboard)."""

    service: str
    strategy: str
    stable_version: str
    new_version: str
    started_at: float
    phase: Phase = Phase.PROGRESSING
    weight: int = 0
    """Percent of traffic on the new version."""
    step: int = 0
    """Index of the current canary step (blue-green: 0 preview, 1 switched)."""
    steps: tuple[int, ...] = ()
    step_started_at: float = 0.0
    holds: int = 0
    """Times the current step was extended for lack of traffic."""
    finished_at: float | None = None
    message: str = ""
    analyses: list[Analysis] = field(default_factory=list)
    """Recent analyses, newest last (bounded)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """Timeline: ``{at, kind, message, weight}``."""

    max_analyses: int = 50

    @property
    def done(self) -> bool:
        """Whether the rollout has ended."""
        return self.phase in TERMINAL

    def note(self, at: float, kind: str, message: str) -> dict[str, Any]:
        """Append a timeline event and return it."""
        event = {"at": at, "kind": kind, "message": message, "weight": self.weight, "step": self.step}
        self.events.append(event)
        self.message = message
        return event

    def record(self, analysis: Analysis) -> None:
        """Keep ``analysis`` (the last ``max_analyses`` are kept)."""
        self.analyses.append(analysis)
        del self.analyses[: -self.max_analyses]

    def finish(self, at: float, phase: Phase, message: str) -> None:
        """Enter a terminal ``phase``."""
        self.phase = phase
        self.finished_at = at
        self.note(at, str(phase), message)

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to carry on after a control-plane restart (:meth:`restore` reads it back)."""
        return self.as_dict() | {"analyses": [a.as_dict() for a in self.analyses]}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> RolloutState:
        """The state :meth:`snapshot` saved.

        Raises:
            KeyError, ValueError, TypeError: the data is not a snapshot.
        """
        return cls(
            service=str(data["service"]),
            strategy=str(data["strategy"]),
            stable_version=str(data["stable_version"]),
            new_version=str(data["new_version"]),
            started_at=float(data["started_at"]),
            phase=Phase(data["phase"]),
            weight=int(data["weight"]),
            step=int(data["step"]),
            steps=tuple(int(w) for w in data.get("steps", ())),
            step_started_at=float(data.get("step_started_at", 0.0)),
            holds=int(data.get("holds", 0)),
            finished_at=data.get("finished_at"),
            message=str(data.get("message", "")),
            analyses=[Analysis.from_dict(a) for a in data.get("analyses", ())],
            events=[dict(e) for e in data.get("events", ())],
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "service": self.service,
            "strategy": self.strategy,
            "stable_version": self.stable_version,
            "new_version": self.new_version,
            "phase": str(self.phase),
            "weight": self.weight,
            "step": self.step,
            "steps": list(self.steps),
            "started_at": self.started_at,
            "step_started_at": self.step_started_at,
            "finished_at": self.finished_at,
            "holds": self.holds,
            "message": self.message,
            "analysis": self.analyses[-1].as_dict() if self.analyses else None,
            "runs": [_run(a) for a in self.analyses],
            "events": list(self.events),
        }


def _run(analysis: Analysis) -> dict[str, Any]:
    """One analysis in a line (the dashboard's per-step results)."""
    canary = analysis.canary
    return {
        "at": analysis.at,
        "verdict": str(analysis.verdict),
        "requests": canary.requests,
        "error_rate": canary.error_rate,
        "p99": canary.p99,
        "failed": [c.name for c in analysis.checks if c.ok is False],
    }
