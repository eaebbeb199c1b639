"""Spans as the control plane keeps them, the store protocol, and trace search.

A :class:`SpanRecord` is a finished span decoded from OTLP (see :mod:`baton.telemetry.otlp`): plain data,
ids as lower-case hex, times in Unix nanoseconds. A :class:`SpanStore` keeps a bounded number of them (the
oldest are dropped first) and answers the two questions the dashboard and ``baton trace`` ask: *all spans
of trace X* and *which recent traces match these criteria* (:class:`TraceQuery`).

Backends: :class:`~baton.telemetry.spanstore.SqliteSpanStore` (``.baton/telemetry/spans.db``, the
default) and :class:`~baton.telemetry.spanstore.MemorySpanStore`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["SpanRecord", "SpanStore", "TraceQuery", "TraceSummary", "matches", "summarize"]


@dataclass(frozen=True)
class SpanRecord:
    """One finished span."""

    trace_id: str
    """32 lower-case hex digits."""
    span_id: str
    """16 lower-case hex digits."""
    parent_span_id: str | None
    """``None`` for a trace's root span."""
    name: str
    """Operation name, e.g. ``GET /v1/orders/{id}``."""
    service: str
    """``service.name`` of the resource that emitted the span."""
    start_ns: int
    """Start, Unix time in nanoseconds."""
    end_ns: int
    """End, Unix time in nanoseconds."""
    kind: str = "internal"
    """``server``, ``client``, ``producer``, ``consumer`` or ``internal``."""
    error: bool = False
    """The span's status is ERROR."""
    status_message: str = ""
    instance: str | None = None
    """``service.instance.id`` of the emitting resource, when known."""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    """``{"name", "time_ns", "attributes"}`` per span event (exceptions land here)."""
    links: list[dict[str, str]] = field(default_factory=list)
    """``{"trace_id", "span_id"}`` per link (a consumer span links to its producer)."""

    @property
    def duration_ns(self) -> int:
        """End minus start, never negative (clock skew between hosts can invert them)."""
        return max(0, self.end_ns - self.start_ns)


@dataclass(frozen=True)
class TraceQuery:
    """Criteria of a trace search; a trace matches when one of its spans meets all the criteria set."""

    service: str | None = None
    operation: str | None = None
    """Exact span name."""
    min_duration_ns: int = 0
    error: bool | None = None
    """``True``: only spans with an error; ``False``: only spans without; ``None``: either."""
    since_ns: int | None = None
    """Spans starting at or after this Unix time (ns)."""
    until_ns: int | None = None
    """Spans starting before this Unix time (ns)."""
    limit: int = 20
    """Most recent traces returned (newest first)."""


@dataclass(frozen=True)
class TraceSummary:
    """One line of a trace search result."""

    trace_id: str
    root_service: str
    root_name: str
    start_ns: int
    duration_ns: int
    span_count: int
    error: bool
    services: tuple[str, ...]


@runtime_checkable
class SpanStore(Protocol):
    """A bounded store of finished spans."""

    async def add(self, spans: Sequence[SpanRecord]) -> int:
        """Store ``spans`` (dropping the oldest beyond the bound); return how many were stored."""

    async def trace(self, trace_id: str) -> list[SpanRecord]:
        """All stored spans of ``trace_id``, by start time (empty when unknown)."""

    async def search(self, query: TraceQuery) -> list[TraceSummary]:
        """Summaries of the most recent traces with a span matching ``query``, newest first."""


def matches(span: SpanRecord, query: TraceQuery) -> bool:
    """Whether ``span`` meets every criterion set in ``query`` (the reference the SQL backend mirrors)."""
    if query.service is not None and span.service != query.service:
        return False
    if query.operation is not None and span.name != query.operation:
        return False
    if span.duration_ns < query.min_duration_ns:
        return False
    if query.error is not None and span.error != query.error:
        return False
    if query.since_ns is not None and span.start_ns < query.since_ns:
        return False
    return not (query.until_ns is not None and span.start_ns >= query.until_ns)


def summarize(trace_id: str, spans: Iterable[SpanRecord]) -> TraceSummary:
    """Summarize one trace's spans: its root (or earliest span when the root was not kept), extent, errors."""
    ordered = sorted(spans, key=lambda s: s.start_ns)
    if not ordered:
        raise ValueError(f"trace {trace_id} has no spans")
    ids = {s.span_id for s in ordered}
    # A root is a span whose parent is absent from the trace: with sampling or dropped spans, the true
    # root may be missing, and the earliest orphan stands in for it.
    root = next((s for s in ordered if s.parent_span_id is None or s.parent_span_id not in ids), ordered[0])
    start = ordered[0].start_ns
    end = max(s.end_ns for s in ordered)
    return TraceSummary(
        trace_id=trace_id,
        root_service=root.service,
        root_name=root.name,
        start_ns=start,
        duration_ns=max(0, end - start),
        span_count=len(ordered),
        error=any(s.error for s in ordered),
        services=tuple(sorted({s.service for s in ordered})),
    )
