"""Rollouts that survive the control plane: ``$BATON_HOME/rollouts.json``.

Argo Rollouts keeps a Rollout's status in the Kubernetes API (etcd), so a restarted controller carries on where
the last one stopped. Baton does the same with a file: after every change of a rollout (a step, an analysis, an
operator command) the manager writes each service's current rollout — its state and timeline, the specs of both
versions, the rollout policy it runs with and the preview route's tester token — and the recent finished ones.
A control plane started on the same home reads it back and resumes the rollouts that were running (the
supervisor re-adopts the new version's instances on their release track from ``state.json``).

The file is replaced atomically and is readable by the owner only (the tester token is in it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.control.home import atomic_write
from baton.delivery.state import RolloutState

__all__ = ["JOURNAL_FILE", "RolloutJournal", "SavedRollout"]

log = logging.getLogger("baton.delivery.journal")

JOURNAL_FILE = "rollouts.json"
VERSION = 1


@dataclass
class SavedRollout:
    """One running rollout as persisted."""

    state: RolloutState
    spec: dict[str, Any]
    """The new version's ``ServiceSpec`` (JSON)."""
    previous: dict[str, Any] | None
    """The stable version's ``ServiceSpec`` (JSON): what ``undo`` releases again."""
    policy: dict[str, Any] | None
    """The manifest's ``rollouts:`` entry the rollout runs with (JSON; ``None``: defaults)."""
    token: str
    """The preview route's tester token."""


@dataclass
class Journal:
    """Everything in ``rollouts.json``."""

    active: dict[str, SavedRollout] = field(default_factory=dict)
    history: dict[str, list[RolloutState]] = field(default_factory=dict)


class RolloutJournal:
    """Reads and atomically writes ``rollouts.json`` in a system's home."""

    def __init__(self, home: Path) -> None:
        self.path = home / JOURNAL_FILE

    def load(self) -> Journal:
        """What the last control plane saved; an empty journal when there is none or it cannot be read."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Journal()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.path, exc)
            return Journal()
        journal = Journal()
        for service, item in (data.get("active") or {}).items():
            try:
                journal.active[service] = SavedRollout(
                    state=RolloutState.restore(item["state"]),
                    spec=dict(item["spec"]),
                    previous=item.get("previous"),
                    policy=item.get("policy"),
                    token=str(item["token"]),
                )
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("ignoring the saved rollout of %s: %s", service, exc)
        for service, items in (data.get("history") or {}).items():
            states = []
            for item in items:
                try:
                    states.append(RolloutState.restore(item))
                except (KeyError, ValueError, TypeError):
                    continue
            journal.history[service] = states
        return journal

    def save(self, journal: Journal) -> None:
        """Replace the file with ``journal`` (0600: tester tokens)."""
        document = {
            "version": VERSION,
            "active": {
                service: {
                    "state": saved.state.snapshot(),
                    "spec": saved.spec,
                    "previous": saved.previous,
                    "policy": saved.policy,
                    "token": saved.token,
                }
                for service, saved in journal.active.items()
            },
            "history": {
                service: [state.snapshot() | {"analyses": []} for state in states]
                for service, states in journal.history.items()
            },
        }
        atomic_write(self.path, json.dumps(document), mode=0o600)
