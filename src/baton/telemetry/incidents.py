"""Alerts become incidents: related alerts are grouped, timed, enriched, notified and resolved.

On every evaluation the control plane hands :meth:`IncidentManager.observe` the alerts firing *now*. The manager:

* attaches a new alert to an open incident when it is related to one of that incident's alerts (same service or
  instance, a shared dependency edge, the same deploy — :meth:`Alert.related_to`); an alert related to an
  incident resolved less than ``group_window`` ago reopens it (a flapping problem stays one incident);
* otherwise opens a new incident, with the runbook links its alerts declare and, through the hooks, the ids of
  failing traces and the log lines around it;
* writes every change to the timeline (``opened``, ``alert_fired``, ``alert_cleared``, ``reopened``,
  ``resolved``), persists the incident and notifies;
* resolves an incident once none of its alerts has fired for ``resolve_hold`` seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from baton.telemetry.alerts import Alert
from baton.telemetry.incident_store import IncidentStore
from baton.telemetry.notify import Notifier
from baton.telemetry.spans import SpanStore, TraceQuery

__all__ = ["Incident", "IncidentManager", "IncidentPolicy", "error_traces"]

Finder = Callable[["Incident"], Awaitable[list[str]]]
"""A hook enriching an incident: returns trace ids, or log lines, relevant to it."""


@dataclass(frozen=True)
class IncidentPolicy:
    """How alerts are grouped and incidents closed."""

    group_window: float = 600.0
    """Seconds after resolution during which a related alert reopens the incident instead of opening another."""
    resolve_hold: float = 0.0
    """Seconds with no alert firing before an incident is resolved (0: as soon as they all clear)."""
    max_traces: int = 10
    max_log_lines: int = 50


@dataclass
class Incident:
    """A group of related alerts with its timeline."""

    id: str
    title: str
    opened_at: float
    state: Literal["open", "resolved"] = "open"
    resolved_at: float | None = None
    alerts: dict[str, Alert] = field(default_factory=dict)
    """Every alert that joined, by key."""
    firing: set[str] = field(default_factory=set)
    """Keys of the alerts firing now."""
    cleared_at: float | None = None
    """When the last firing alert cleared (``None`` while one fires)."""
    timeline: list[dict[str, Any]] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    @property
    def services(self) -> list[str]:
        """Services the incident touches (alert services and both ends of alert edges)."""
        found = {a.service for a in self.alerts.values()}
        for alert in self.alerts.values():
            found.update(alert.edge or ())
        return sorted(found)

    @property
    def runbooks(self) -> list[str]:
        """Runbook links declared by the incident's alerts, first seen first."""
        return list(dict.fromkeys(a.runbook for a in self.alerts.values() if a.runbook))

    def related_to(self, alert: Alert) -> bool:
        """Whether ``alert`` is related to one of the incident's alerts."""
        return any(alert.related_to(known) for known in self.alerts.values())

    def note(self, at: float, kind: str, message: str, **data: Any) -> None:
        """Append a timeline entry."""
        self.timeline.append({"at": at, "kind": kind, "message": message, **data})

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (store, webhook, dashboard)."""
        return {
            "id": self.id,
            "title": self.title,
            "state": self.state,
            "opened_at": self.opened_at,
            "resolved_at": self.resolved_at,
            "cleared_at": self.cleared_at,
            "services": self.services,
            "runbooks": self.runbooks,
            "alerts": [a.as_dict() for a in self.alerts.values()],
            "firing": sorted(self.firing),
            "timeline": list(self.timeline),
            "trace_ids": list(self.trace_ids),
            "logs": list(self.logs),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        """Inverse of :meth:`as_dict`."""
        alerts = [Alert.from_dict(a) for a in data.get("alerts", [])]
        return cls(
            id=data["id"],
            title=data["title"],
            opened_at=data["opened_at"],
            state=data["state"],
            resolved_at=data.get("resolved_at"),
            alerts={a.key: a for a in alerts},
            firing=set(data.get("firing", [])),
            cleared_at=data.get("cleared_at"),
            timeline=list(data.get("timeline", [])),
            trace_ids=list(data.get("trace_ids", [])),
            logs=list(data.get("logs", [])),
        )


def error_traces(store: SpanStore, *, lookback: float = 900.0, limit: int = 10) -> Finder:
    """A trace hook: ids of recent failing traces in the incident's services, newest first."""

    async def find(incident: Incident) -> list[str]:
        since = int((incident.opened_at - lookback) * 1e9)
        found: dict[str, int] = {}
        for service in incident.services:
            for summary in await store.search(TraceQuery(service=service, error=True, since_ns=since, limit=limit)):
                found[summary.trace_id] = summary.start_ns
        return sorted(found, key=lambda t: found[t], reverse=True)[:limit]

    return find


class IncidentManager:
    """Groups firing alerts into incidents (see the module docstring)."""

    def __init__(
        self,
        store: IncidentStore,
        *,
        notifiers: Sequence[Notifier] = (),
        policy: IncidentPolicy | None = None,
        traces: Finder | None = None,
        logs: Finder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.notifiers = list(notifiers)
        self.policy = policy or IncidentPolicy()
        self.traces = traces
        self.logs = logs
        self.clock = clock
        self._active: dict[str, Incident] = {}
        """Open incidents and those resolved within ``group_window`` (candidates for reopening)."""

    async def load(self) -> None:
        """Pick up open and recently resolved incidents from the store (after a control plane restart)."""
        now = self.clock()
        for doc in await self.store.list(state="open", limit=1000):
            self._active[doc["id"]] = Incident.from_dict(doc)
        for doc in await self.store.list(state="resolved", limit=100):
            if doc.get("resolved_at") and now - doc["resolved_at"] <= self.policy.group_window:
                self._active[doc["id"]] = Incident.from_dict(doc)

    def open_incidents(self) -> list[Incident]:
        """Incidents currently open, oldest first."""
        return sorted((i for i in self._active.values() if i.state == "open"), key=lambda i: i.opened_at)

    async def observe(self, firing: Sequence[Alert], now: float | None = None) -> list[tuple[str, Incident]]:
        """Fold the alerts firing now into incidents; return the changes as ``(event, incident)``."""
        now = self.clock() if now is None else now
        current = {a.key: a for a in firing}
        changes: list[tuple[str, Incident]] = []
        changed: dict[str, Incident] = {}
        for incident in list(self._active.values()):
            if incident.state == "resolved" and now - (incident.resolved_at or now) > self.policy.group_window:
                del self._active[incident.id]  # too long ago to be the same problem

        for incident in list(self._active.values()):
            for key in sorted(incident.firing - current.keys()):
                incident.firing.discard(key)
                incident.note(now, "alert_cleared", f"{key} cleared", alert=key)
                changed[incident.id] = incident
            if incident.state == "open" and not incident.firing and incident.cleared_at is None:
                incident.cleared_at = now

        for alert in current.values():
            if any(alert.key in i.firing for i in self._active.values() if i.state == "open"):
                continue
            home = self._home_for(alert)
            if home is None:
                incident = Incident(id=uuid.uuid4().hex[:12], title=alert.summary or alert.key, opened_at=now)
                self._active[incident.id] = incident
                self._join(incident, alert, now)
                incident.note(now, "opened", f"incident opened by {alert.key}")
                await self._enrich(incident)
                changes.append(("opened", incident))
            elif home.state == "resolved":
                incident = home
                incident.state, incident.resolved_at = "open", None
                incident.note(now, "reopened", f"reopened by {alert.key}")
                self._join(incident, alert, now)
                changes.append(("reopened", incident))
            else:
                incident = home
                self._join(incident, alert, now)
                changes.append(("alert_added", incident))
            changed[incident.id] = incident

        for incident in list(self._active.values()):
            if (
                incident.state == "open"
                and not incident.firing
                and incident.cleared_at is not None
                and now - incident.cleared_at >= self.policy.resolve_hold
            ):
                incident.state, incident.resolved_at = "resolved", now
                incident.note(now, "resolved", "all alerts cleared")
                changes.append(("resolved", incident))
                changed[incident.id] = incident

        for incident in changed.values():
            await self.store.save(incident.as_dict())
        for event, incident in changes:
            for notifier in self.notifiers:
                await notifier.notify(event, incident.as_dict())
        return changes

    def _home_for(self, alert: Alert) -> Incident | None:
        candidates = [i for i in self._active.values() if i.related_to(alert)]
        # Prefer an open incident over reopening a resolved one; among equals, the oldest.
        candidates.sort(key=lambda i: (i.state != "open", i.opened_at))
        return candidates[0] if candidates else None

    def _join(self, incident: Incident, alert: Alert, now: float) -> None:
        incident.alerts[alert.key] = alert
        incident.firing.add(alert.key)
        incident.cleared_at = None
        incident.note(now, "alert_fired", alert.summary or alert.key, alert=alert.key, severity=alert.severity)

    async def _enrich(self, incident: Incident) -> None:
        if self.traces is not None:
            incident.trace_ids = (await self.traces(incident))[: self.policy.max_traces]
        if self.logs is not None:
            incident.logs = (await self.logs(incident))[: self.policy.max_log_lines]
