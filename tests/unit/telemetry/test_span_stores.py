"""Both span store backends: bounded by span count (oldest dropped), trace lookup and trace search."""

from __future__ import annotations

import pytest

from baton.telemetry.spans import TraceQuery, summarize

from .conftest import MS, span


async def test_a_trace_comes_back_whole_and_ordered_by_start(make_store):
    store = make_store()
    await store.add([span("a", "2", "1", start_ms=5), span("a", "1", start_ms=0, duration_ms=50), span("b", "9")])

    spans = await store.trace("0" * 31 + "a")

    assert [s.span_id[-1] for s in spans] == ["1", "2"]
    assert spans[0].duration_ns == 50 * MS


async def test_attributes_events_and_links_survive_storage(make_store):
    store = make_store()
    original = span(
        "a",
        "1",
        attributes={"http.route": "/v1/x", "retries": 2, "tags": ["a", "b"]},
        events=[{"name": "exception", "time_ns": 5, "attributes": {"exception.type": "ValueError"}}],
        links=[{"trace_id": "f" * 32, "span_id": "e" * 16}],
        instance="svc-1",
        kind="consumer",
    )
    await store.add([original])

    (stored,) = await store.trace(original.trace_id)

    assert stored == original


async def test_unknown_trace_is_empty(make_store):
    assert await make_store().trace("f" * 32) == []


async def test_the_oldest_spans_are_dropped_beyond_the_bound(make_store):
    store = make_store(max_spans=3)
    await store.add([span("a", "1"), span("a", "2")])
    await store.add([span("b", "3"), span("b", "4")])

    assert await store.trace("a".rjust(32, "0")) == [span("a", "2")]
    assert len(await store.trace("b".rjust(32, "0"))) == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TraceQuery(), ["c", "b", "a"]),
        (TraceQuery(service="pay"), ["b"]),
        (TraceQuery(operation="GET /x"), ["c", "a"]),
        (TraceQuery(min_duration_ns=100 * MS), ["b"]),
        (TraceQuery(error=True), ["c"]),
        (TraceQuery(error=False), ["c", "b", "a"]),
        (TraceQuery(since_ns=1000 * MS), ["c", "b"]),
        (TraceQuery(until_ns=1000 * MS), ["a"]),
        (TraceQuery(limit=1), ["c"]),
        (TraceQuery(service="pay", error=True), []),
        (TraceQuery(service="order", error=True), ["c"]),
    ],
)
async def test_search_finds_traces_with_a_matching_span_newest_first(make_store, query, expected):
    store = make_store()
    await store.add(
        [
            span("a", "1", name="GET /x", service="order", start_ms=0),
            span("b", "2", name="POST /pay", service="pay", start_ms=1000, duration_ms=200),
            span("c", "3", name="GET /x", service="order", start_ms=2000),
            span("c", "4", "3", name="db", service="order", start_ms=2001, error=True),
        ]
    )

    found = await store.search(query)

    assert [s.trace_id[-1] for s in found] == expected


async def test_search_summarizes_the_whole_trace(make_store):
    store = make_store()
    await store.add(
        [
            span("a", "1", name="GET /checkout", service="gateway", start_ms=0, duration_ms=100),
            span("a", "2", "1", name="POST /orders", service="order", start_ms=10, duration_ms=120, error=True),
        ]
    )

    (summary,) = await store.search(TraceQuery(service="order"))

    assert summary.root_name == "GET /checkout"
    assert summary.root_service == "gateway"
    assert summary.duration_ns == 130 * MS
    assert summary.span_count == 2
    assert summary.error is True
    assert summary.services == ("gateway", "order")


def test_a_trace_whose_root_was_not_kept_is_rooted_at_its_earliest_orphan():
    summary = summarize(
        "t", [span("t", "3", "2", start_ms=7, name="late"), span("t", "2", "1", start_ms=5, name="early")]
    )

    assert summary.root_name == "early"
