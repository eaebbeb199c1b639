"""Fixtures for the telemetry unit tests: span stores of every backend, a span factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from baton.telemetry.memory_spans import MemorySpanStore
from baton.telemetry.spans import SpanRecord
from baton.telemetry.sqlite_spans import SqliteSpanStore

MS = 1_000_000


@pytest.fixture(params=["memory", "sqlite"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``make_store(max_spans=...)`` builds a store of the parametrized backend."""
    stores: list[Any] = []

    def make(max_spans: int = 1000) -> Any:
        if request.param == "memory":
            store: Any = MemorySpanStore(max_spans=max_spans)
        else:
            store = SqliteSpanStore(tmp_path / f"spans-{len(stores)}.db", max_spans=max_spans)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.aclose()


def span(
    trace: str,
    sid: str,
    parent: str | None = None,
    *,
    name: str = "op",
    service: str = "svc",
    start_ms: int = 0,
    duration_ms: int = 10,
    error: bool = False,
    **extra: Any,
) -> SpanRecord:
    """A span with readable short ids (padded to OTel's widths) and times in milliseconds."""
    return SpanRecord(
        trace_id=trace.rjust(32, "0"),
        span_id=sid.rjust(16, "0"),
        parent_span_id=parent.rjust(16, "0") if parent else None,
        name=name,
        service=service,
        start_ns=start_ms * MS,
        end_ns=(start_ms + duration_ms) * MS,
        error=error,
        **extra,
    )
