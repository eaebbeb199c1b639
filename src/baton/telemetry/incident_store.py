"""Where incidents are kept: ``IncidentStore`` protocol, SQLite (``.baton/telemetry/incidents.db``) and memory.

An incident is stored whole as one JSON document (its timeline is short), with the columns the dashboard filters
and sorts on next to it.
"""

from __future__ import annotations

import asyncio
import builtins
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from baton.errors import StoreError

__all__ = ["IncidentStore", "MemoryIncidentStore", "SqliteIncidentStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    opened_at REAL NOT NULL,
    resolved_at REAL,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_state_opened ON incidents (state, opened_at);
"""


@runtime_checkable
class IncidentStore(Protocol):
    """Persists incidents as JSON-ready dicts (``id``, ``state``, ``opened_at``, ``resolved_at`` required)."""

    async def save(self, incident: dict[str, Any]) -> None:
        """Insert or replace ``incident``."""

    async def list(self, *, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Incidents, newest first, optionally only those in ``state`` (``open``/``resolved``)."""

    async def get(self, incident_id: str) -> dict[str, Any] | None:
        """One incident, or ``None``."""


class MemoryIncidentStore:
    """Incidents in a dict (tests)."""

    def __init__(self) -> None:
        self._docs: dict[str, dict[str, Any]] = {}

    async def save(self, incident: dict[str, Any]) -> None:
        """Insert or replace ``incident`` (a copy is kept)."""
        self._docs[incident["id"]] = orjson.loads(orjson.dumps(incident))

    async def list(self, *, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Incidents, newest first."""
        docs = [d for d in self._docs.values() if state is None or d["state"] == state]
        return sorted(docs, key=lambda d: d["opened_at"], reverse=True)[:limit]

    async def get(self, incident_id: str) -> dict[str, Any] | None:
        """One incident, or ``None``."""
        return self._docs.get(incident_id)


class SqliteIncidentStore:
    """Incidents in one SQLite file (the standard library's driver, in a worker thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open incident store {path}: {exc}") from exc

    async def save(self, incident: dict[str, Any]) -> None:
        """Insert or replace ``incident``."""
        row = (incident["id"], incident["state"], incident["opened_at"], incident.get("resolved_at"))
        await asyncio.to_thread(
            self._run,
            "INSERT OR REPLACE INTO incidents (id, state, opened_at, resolved_at, doc) VALUES (?, ?, ?, ?, ?)",
            (*row, orjson.dumps(incident)),
        )

    async def list(self, *, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Incidents, newest first."""
        if state is None:
            rows = await asyncio.to_thread(
                self._run, "SELECT doc FROM incidents ORDER BY opened_at DESC LIMIT ?", (limit,)
            )
        else:
            rows = await asyncio.to_thread(
                self._run,
                "SELECT doc FROM incidents WHERE state = ? ORDER BY opened_at DESC LIMIT ?",
                (state, limit),
            )
        return [orjson.loads(r[0]) for r in rows]

    async def get(self, incident_id: str) -> dict[str, Any] | None:
        """One incident, or ``None``."""
        rows = await asyncio.to_thread(self._run, "SELECT doc FROM incidents WHERE id = ?", (incident_id,))
        return orjson.loads(rows[0][0]) if rows else None

    async def aclose(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _run(self, sql: str, params: tuple[Any, ...]) -> builtins.list[tuple[Any, ...]]:
        with self._lock:
            try:
                with self._db:
                    return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"incident store {self.path}: {exc}") from exc
