"""The standard-library OTLP JSON exporter: what it sends decodes to the very records the reference exporter's
protobuf does, and it reaches a real HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

from baton.telemetry.export import exporters_from_env
from baton.telemetry.otlp import decode_json, decode_protobuf
from baton.telemetry.otlp_json import JsonSpanExporter, encode_spans

from .otlp_samples import protobuf_payload, sdk_spans


def test_json_encoding_decodes_like_the_reference_protobuf():
    spans = sdk_spans()

    records = decode_json(encode_spans(spans))

    assert records == decode_protobuf(protobuf_payload(spans))
    assert {r.name for r in records} == {"POST /v1/orders", "POST payment"}
    failed = next(r for r in records if r.name == "POST payment")
    assert failed.error
    assert failed.status_message == "payment down"
    assert failed.kind == "client"


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.bodies.append((self.headers["Content-Type"], self.rfile.read(length)))
        self.send_response(self.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Handler", (_Receiver,), {"bodies": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", handler
    finally:
        server.shutdown()
        server.server_close()


def test_exports_over_http(receiver):
    url, handler = receiver
    exporter = JsonSpanExporter(url)
    spans = sdk_spans()

    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.export(spans[:1]) is SpanExportResult.SUCCESS  # over the kept-alive connection

    [(content_type, body), (_, second)] = handler.bodies
    assert content_type == "application/json"
    assert decode_json(body) == decode_protobuf(protobuf_payload(spans))
    assert len(decode_json(second)) == 1
    handler.status = 500
    assert exporter.export(spans) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert exporter.export(spans) is SpanExportResult.FAILURE


def test_unreachable_receiver_is_a_failure_not_an_exception():
    exporter = JsonSpanExporter("http://127.0.0.1:9/v1/traces", timeout=1)

    assert exporter.export(sdk_spans()) is SpanExportResult.FAILURE


def test_the_control_plane_gets_the_json_exporter_collectors_the_reference_one():
    exporters = exporters_from_env(
        environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "BATON_TELEMETRY_URL": "http://cp:7700"}
    )

    assert [type(e).__name__ for e in exporters] == ["OTLPSpanExporter", "JsonSpanExporter"]
    assert isinstance(exporters[1], JsonSpanExporter)
    assert exporters[1].endpoint == "http://cp:7700/v1/traces"


def test_equal_attribute_values_of_different_types_encode_by_their_own_type():
    """Encoded attribute lists are remembered by their items; 1, 1.0 and True are equal in Python, not in OTLP."""
    import orjson
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, TraceFlags

    context = SpanContext(1, 2, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    resource = Resource.create({"service.name": "s"})
    values = [1, True, 1.0, "1", [1, 2]]
    spans = [ReadableSpan(name="s", context=context, resource=resource, attributes={"a": v}) for v in values]

    document = orjson.loads(encode_spans(spans))
    encoded = [span["attributes"][0]["value"] for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]]

    assert encoded == [
        {"intValue": "1"},
        {"boolValue": True},
        {"doubleValue": 1.0},
        {"stringValue": "1"},
        {"arrayValue": {"values": [{"intValue": "1"}, {"intValue": "2"}]}},
    ]
