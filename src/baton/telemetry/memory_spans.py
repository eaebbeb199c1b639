"""``MemorySpanStore``: a bounded in-memory span store (tests, and a control plane run without a data dir)."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence

from baton.telemetry.spans import SpanRecord, TraceQuery, TraceSummary, matches, summarize

__all__ = ["MemorySpanStore"]


class MemorySpanStore:
    """Keeps at most ``max_spans`` spans in arrival order; the oldest are dropped first."""

    def __init__(self, *, max_spans: int = 100_000) -> None:
        if max_spans < 1:
            raise ValueError("max_spans must be at least 1")
        self.max_spans = max_spans
        self._spans: deque[SpanRecord] = deque()
        self._by_trace: dict[str, list[SpanRecord]] = {}

    def __len__(self) -> int:
        return len(self._spans)

    async def add(self, spans: Sequence[SpanRecord]) -> int:
        """Store ``spans``, dropping the oldest beyond ``max_spans``; return how many were stored."""
        for span in spans:
            self._spans.append(span)
            self._by_trace.setdefault(span.trace_id, []).append(span)
        while len(self._spans) > self.max_spans:
            old = self._spans.popleft()
            siblings = self._by_trace[old.trace_id]
            siblings.remove(old)
            if not siblings:
                del self._by_trace[old.trace_id]
        return len(spans)

    async def trace(self, trace_id: str) -> list[SpanRecord]:
        """All stored spans of ``trace_id``, by start time."""
        return sorted(self._by_trace.get(trace_id.lower(), ()), key=lambda s: s.start_ns)

    async def search(self, query: TraceQuery) -> list[TraceSummary]:
        """Most recent traces with a span matching ``query``, newest first."""
        latest: OrderedDict[str, int] = OrderedDict()
        for span in self._spans:
            if matches(span, query):
                latest[span.trace_id] = max(latest.get(span.trace_id, 0), span.start_ns)
        newest = sorted(latest, key=lambda t: latest[t], reverse=True)[: query.limit]
        return [summarize(t, self._by_trace[t]) for t in newest]

    async def aclose(self) -> None:
        """Nothing to release (symmetry with the SQLite store)."""
