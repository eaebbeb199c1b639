"""OTLP payloads for tests: real SDK spans encoded by the SDK's own OTLP encoder, and the spec's JSON form."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode


def sdk_spans() -> list[ReadableSpan]:
    """A server span with a failing client child that links to another trace, from the real SDK."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "order", "service.instance.id": "order-1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /v1/orders", kind=SpanKind.SERVER, attributes={"http.route": "/v1/orders"}):
        other = tracer.start_span("elsewhere")
        other.end()
        with tracer.start_as_current_span(
            "POST payment", kind=SpanKind.CLIENT, links=[Link(other.get_span_context())]
        ) as child:
            child.add_event("retry", {"attempt": 2})
            child.set_status(Status(StatusCode.ERROR, "payment down"))
    provider.shutdown()
    return [s for s in exporter.get_finished_spans() if s.name != "elsewhere"]


def protobuf_payload(spans: list[ReadableSpan]) -> bytes:
    """``ExportTraceServiceRequest`` bytes, exactly as ``OTLPSpanExporter`` sends them."""
    return encode_spans(spans).SerializeToString()


def json_payload() -> dict[str, Any]:
    """A request in the OTLP JSON encoding (hex ids, enums as integers, int64 as strings)."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "catalog"}},
                        {"key": "service.instance.id", "value": {"stringValue": "catalog-2"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "manual"},
                        "spans": [
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "parentSpanId": "EEE19B7EC3C1B173",
                                "name": "GET /v1/products/{sku}",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [
                                    {"key": "http.response.status_code", "value": {"intValue": "503"}},
                                    {"key": "cache.hit", "value": {"boolValue": False}},
                                    {"key": "ratio", "value": {"doubleValue": 0.5}},
                                    {"key": "ids", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
                                ],
                                "status": {"code": 2, "message": "upstream down"},
                            }
                        ],
                    }
                ],
            }
        ]
    }
