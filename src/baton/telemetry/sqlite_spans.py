"""``SqliteSpanStore``: spans in ``.baton/telemetry/spans.db``, bounded by span count, oldest dropped.

The standard library's ``sqlite3`` runs in a worker thread (``asyncio.to_thread``) so a large OTLP batch never
blocks the control plane's event loop; one connection guarded by a lock keeps writes serial, which is what
SQLite wants anyway. Rows carry an autoincrement ``seq``: trimming to the bound is one range delete.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from baton.errors import StoreError
from baton.telemetry.spans import SpanRecord, TraceQuery, TraceSummary, summarize

__all__ = ["SqliteSpanStore", "default_span_db"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    instance TEXT,
    kind TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    duration_ns INTEGER NOT NULL,
    error INTEGER NOT NULL,
    status_message TEXT NOT NULL,
    extra BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_trace ON spans (trace_id);
CREATE INDEX IF NOT EXISTS spans_service_start ON spans (service, start_ns);
CREATE INDEX IF NOT EXISTS spans_start ON spans (start_ns);
"""

_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, service, instance, kind, start_ns, end_ns, duration_ns, error, "
    "status_message, extra"
)


def default_span_db(home: Path) -> Path:
    """Where the control plane keeps spans: ``<home>/telemetry/spans.db``."""
    return home / "telemetry" / "spans.db"


class SqliteSpanStore:
    """A span store in one SQLite file, holding at most ``max_spans`` spans."""

    def __init__(self, path: Path, *, max_spans: int = 200_000) -> None:
        if max_spans < 1:
            raise ValueError("max_spans must be at least 1")
        self.path = path
        self.max_spans = max_spans
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # Spans are diagnostics: losing the last few on a power cut is acceptable, an fsync per batch is not.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open span store {path}: {exc}") from exc

    async def add(self, spans: Sequence[SpanRecord]) -> int:
        """Store ``spans``, then drop the oldest beyond ``max_spans``; return how many were stored."""
        if not spans:
            return 0
        rows = [_row(s) for s in spans]
        await asyncio.to_thread(self._insert, rows)
        return len(rows)

    async def trace(self, trace_id: str) -> list[SpanRecord]:
        """All stored spans of ``trace_id``, by start time."""
        rows = await asyncio.to_thread(
            self._query, f"SELECT {_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY start_ns", (trace_id.lower(),)
        )
        return [_record(r) for r in rows]

    async def search(self, query: TraceQuery) -> list[TraceSummary]:
        """Most recent traces with a span matching ``query``, newest first."""
        where, params = _where(query)
        sql = f"SELECT trace_id FROM spans {where} GROUP BY trace_id ORDER BY MAX(start_ns) DESC LIMIT ?"
        ids = [r[0] for r in await asyncio.to_thread(self._query, sql, (*params, query.limit))]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = await asyncio.to_thread(
            self._query, f"SELECT {_COLUMNS} FROM spans WHERE trace_id IN ({marks})", tuple(ids)
        )
        by_trace: dict[str, list[SpanRecord]] = {}
        for row in rows:
            record = _record(row)
            by_trace.setdefault(record.trace_id, []).append(record)
        return [summarize(t, by_trace[t]) for t in ids if t in by_trace]

    async def count(self) -> int:
        """Number of spans stored."""
        rows = await asyncio.to_thread(self._query, "SELECT COUNT(*) FROM spans", ())
        return int(rows[0][0])

    async def aclose(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            try:
                with self._db:
                    self._db.executemany(f"INSERT INTO spans ({_COLUMNS}) VALUES ({','.join('?' * 13)})", rows)
                    last = self._db.execute("SELECT MAX(seq) FROM spans").fetchone()[0]
                    self._db.execute("DELETE FROM spans WHERE seq <= ?", (last - self.max_spans,))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot store spans in {self.path}: {exc}") from exc

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read spans from {self.path}: {exc}") from exc


def _where(query: TraceQuery) -> tuple[str, tuple[Any, ...]]:
    # Mirrors spans.matches(); the memory store's tests pin the semantics both must share.
    clauses: list[str] = []
    params: list[Any] = []
    if query.service is not None:
        clauses.append("service = ?")
        params.append(query.service)
    if query.operation is not None:
        clauses.append("name = ?")
        params.append(query.operation)
    if query.min_duration_ns > 0:
        clauses.append("duration_ns >= ?")
        params.append(query.min_duration_ns)
    if query.error is not None:
        clauses.append("error = ?")
        params.append(1 if query.error else 0)
    if query.since_ns is not None:
        clauses.append("start_ns >= ?")
        params.append(query.since_ns)
    if query.until_ns is not None:
        clauses.append("start_ns < ?")
        params.append(query.until_ns)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _row(span: SpanRecord) -> tuple[Any, ...]:
    extra = orjson.dumps({"attributes": span.attributes, "events": span.events, "links": span.links}, default=repr)
    return (
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.name,
        span.service,
        span.instance,
        span.kind,
        span.start_ns,
        span.end_ns,
        span.duration_ns,
        1 if span.error else 0,
        span.status_message,
        extra,
    )


def _record(row: tuple[Any, ...]) -> SpanRecord:
    extra = orjson.loads(row[12])
    return SpanRecord(
        trace_id=row[0],
        span_id=row[1],
        parent_span_id=row[2],
        name=row[3],
        service=row[4],
        instance=row[5],
        kind=row[6],
        start_ns=row[7],
        end_ns=row[8],
        error=bool(row[10]),
        status_message=row[11],
        attributes=extra["attributes"],
        events=extra["events"],
        links=extra["links"],
    )
