"""The supervisor's state file, ``.baton/state.json``: enough to re-adopt running instances after a restart.

Every record carries the pid *and* the process create time (psutil), so a pid the kernel reused for an
unrelated process is never mistaken for one of ours. The file is replaced atomically (temp file + rename).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from baton.control.home import atomic_write

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A process we started: pid plus create time identifies it across pid reuse."""

    pid: int
    create_time: float

    def alive(self) -> bool:
        """Whether this exact process still runs (not a zombie, not a reused pid)."""
        try:
            proc = psutil.Process(self.pid)
            # create_time is rounded differently across reads; 10 ms is far below any pid-reuse gap.
            if abs(proc.create_time() - self.create_time) > 0.01:
                return False
            return proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        """Record of the live process ``pid``.

        Raises:
            psutil.NoSuchProcess: ``pid`` is gone.
        """
        return cls(pid=pid, create_time=psutil.Process(pid).create_time())


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One supervised instance as persisted."""

    id: str
    service: str
    index: int
    port: int
    version: str
    pid: int
    create_time: float
    restarts: int = 0
    started_at: float = 0.0
    """Wall-clock time the current process was started (epoch seconds)."""
    track: str = "stable"
    """The supervisor track the instance runs on (``release`` while a rollout runs its new version)."""

    @property
    def process(self) -> ProcessRecord:
        """The process part of the record."""
        return ProcessRecord(self.pid, self.create_time)


@dataclass(frozen=True, slots=True)
class ScaleOverride:
    """A live ``baton scale``; it holds until the manifest's own replica count changes."""

    replicas: int
    manifest_replicas: int
    """The manifest's count when the override was made."""


@dataclass
class SupervisorState:
    """Everything in ``state.json``."""

    instances: list[InstanceRecord] = field(default_factory=list)
    nats: ProcessRecord | None = None
    """The embedded NATS server started by a control plane (so ``down`` stops it even after a crash)."""
    scale: dict[str, ScaleOverride] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Specs (``ServiceSpec`` JSON) the stable replicas run where they differ from the manifest (a release in
    progress, or an aborted one), so a restarted control plane keeps running what ran rather than what the file says."""
    tracks: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """``{service: {track: spec JSON}}`` of the non-stable tracks (a rollout's new version), so a restarted control
    plane re-adopts their instances and restarts them with the right spec."""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "version": STATE_VERSION,
            "instances": [asdict(record) for record in self.instances],
            "nats": asdict(self.nats) if self.nats else None,
            "scale": {name: asdict(override) for name, override in self.scale.items()},
            "specs": self.specs,
            "tracks": self.tracks,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SupervisorState:
        """Parse :meth:`to_json` output; unknown fields are ignored."""
        instances = [InstanceRecord(**_known(InstanceRecord, item)) for item in data.get("instances", [])]
        nats = data.get("nats")
        scale = {name: ScaleOverride(**_known(ScaleOverride, item)) for name, item in data.get("scale", {}).items()}
        return cls(
            instances=instances,
            nats=ProcessRecord(**_known(ProcessRecord, nats)) if nats else None,
            scale=scale,
            specs=dict(data.get("specs") or {}),
            tracks={name: dict(tracks) for name, tracks in (data.get("tracks") or {}).items()},
        )


class StateFile:
    """Reads and atomically writes :class:`SupervisorState`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> SupervisorState:
        """The saved state; an empty one when the file is missing or unreadable."""
        try:
            data = json.loads(self.path.read_text())
            return SupervisorState.from_json(data)
        except (FileNotFoundError, ValueError, TypeError, KeyError):
            return SupervisorState()

    def save(self, state: SupervisorState) -> None:
        """Replace the file with ``state``."""
        atomic_write(self.path, json.dumps(state.to_json(), indent=2), mode=0o600)


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    names = set(getattr(kind, "__dataclass_fields__", {}))
    return {key: value for key, value in data.items() if key in names}
