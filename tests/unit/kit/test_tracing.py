"""Tracing: the server span joins the caller's W3C trace and is named after the route template."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from baton.errors import ConfigError
from baton.kit import Service
from baton.telemetry.context import inject
from baton.telemetry.tracing import sample_ratio

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


@pytest.fixture
def spans(monkeypatch):
    """Spans the kit's middleware records, through a provider made global for this test only."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The global provider can be set once per process; patching it keeps other tests' world untouched.
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    return exporter


def _service(outgoing: dict[str, str]) -> Service:
    service = Service("traced")

    @service.get("/v1/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        inject(outgoing)  # what a client call from this handler would send on
        return {"id": item_id}

    @service.get("/v1/fail")
    async def fail() -> None:
        raise ValueError("nope")

    return service


async def test_server_span_continues_the_callers_trace(serving, spans):
    spans.clear()
    outgoing: dict[str, str] = {}
    async with serving(_service(outgoing)) as client:
        response = await client.get(
            "/v1/items/5",
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "X-Correlation-ID": "c-1"},
        )
    assert response.status_code == 200
    (span,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.name == "GET /v1/items/{item_id}"
    assert span.attributes["http.route"] == "/v1/items/{item_id}"
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.response.status_code"] == 200
    # Outgoing calls made while handling carry the same trace (child of the server span) and correlation id.
    assert outgoing["traceparent"].split("-")[1:3] == [TRACE_ID, format(span.context.span_id, "016x")]
    assert outgoing["X-Correlation-ID"] == "c-1"


async def test_unhandled_errors_mark_the_span_and_record_the_exception(serving, spans):
    spans.clear()
    async with serving(_service({})) as client:
        response = await client.get("/v1/fail")
    assert response.status_code == 500
    (span,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["http.response.status_code"] == 500
    assert [e.name for e in span.events] == ["exception"]


def test_sampling_ratio_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("BATON_TRACE_SAMPLE", "0.25")
    assert sample_ratio() == 0.25
    monkeypatch.setenv("BATON_TRACE_SAMPLE", "2")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        sample_ratio()


async def test_probes_are_not_traced(serving, spans):
    spans.clear()
    async with serving(_service({})) as client:
        for path in ("/livez", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200
        assert (await client.get("/v1/items/1")).status_code == 200
    assert [s.name for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER] == ["GET /v1/items/{item_id}"]


async def test_a_provider_installed_after_the_first_request_is_used(serving, spans, monkeypatch):
    # The tracer is cached per provider: a new global provider must still win.
    later = InMemorySpanExporter()
    async with serving(_service({})) as client:
        assert (await client.get("/v1/items/1")).status_code == 200
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(later))
        monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
        assert (await client.get("/v1/items/2")).status_code == 200
    assert [s.attributes["url.path"] for s in later.get_finished_spans() if s.kind is SpanKind.SERVER] == [
        "/v1/items/2"
    ]
