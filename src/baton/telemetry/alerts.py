"""``Alert``: a condition that holds now, on a target — what the SLO evaluator (and others) hand to incidents.

An alert names *what* is wrong (``key``, stable while the condition lasts) and *where*: the service, and when
known the instance, the dependency edge (``caller → callee``) and the deploy it coincides with. Those are
exactly what :mod:`baton.telemetry.incidents` groups related alerts by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Alert"]


@dataclass(frozen=True)
class Alert:
    """One firing alert."""

    key: str
    """Identity while firing, e.g. ``slo:checkout-latency:page``; the same key firing again is the same alert."""
    service: str
    severity: str = "page"
    """``page`` (wake someone) or ``ticket`` (look at it in working hours)."""
    summary: str = ""
    instance: str | None = None
    edge: tuple[str, str] | None = None
    """``(caller, callee)`` when the alert is about a dependency (client errors, breaker open)."""
    deploy: str | None = None
    """Rollout or version the alert coincides with."""
    runbook: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def related_to(self, other: Alert) -> bool:
        """Same service, a shared dependency edge (or a service at either end of the other's edge), or the
        same deploy: the cases where one root cause usually explains both."""
        if self.service == other.service:
            return True
        if self.deploy is not None and self.deploy == other.deploy:
            return True
        mine = set(self.edge or ()) | {self.service}
        theirs = set(other.edge or ()) | {other.service}
        return (self.edge is not None or other.edge is not None) and bool(mine & theirs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (webhooks, the incident store)."""
        return {
            "key": self.key,
            "service": self.service,
            "severity": self.severity,
            "summary": self.summary,
            "instance": self.instance,
            "edge": list(self.edge) if self.edge else None,
            "deploy": self.deploy,
            "runbook": self.runbook,
            "labels": dict(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        """Inverse of :meth:`as_dict`."""
        edge = data.get("edge")
        return cls(
            key=data["key"],
            service=data["service"],
            severity=data.get("severity", "page"),
            summary=data.get("summary", ""),
            instance=data.get("instance"),
            edge=(edge[0], edge[1]) if edge else None,
            deploy=data.get("deploy"),
            runbook=data.get("runbook"),
            labels=dict(data.get("labels") or {}),
        )
