"""The access log's line template and the edge's trace ids: valid JSON whatever a client sends."""

from __future__ import annotations

import io

import orjson

from baton.gateway.accesslog import AccessLog
from baton.gateway.tracing import EdgeTracer, parse_traceparent


def test_request_lines_are_json_with_client_strings_escaped():
    stream = io.BytesIO()
    log = AccessLog(stream)
    log.request(
        1_795_743_422.0456,
        "GET",
        '/v1/a"b\\c\n\u00e9',
        200,
        0.0012345,
        'route "x"',
        None,
        "::1",
        "hello-1",
        1,
        'id"with\\quotes',
        "a" * 32,
        "b" * 16,
    )
    log.request(1_795_743_423.5, "POST", "/", 499, 2.0, "-", "carol", "10.0.0.1", None, 0, "c", None, None)
    log.flush()
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["time"] == "2026-11-27T01:37:02.045Z"
    assert first["path"] == '/v1/a"b\\c\n\u00e9'
    assert first["correlation_id"] == 'id"with\\quotes'
    assert first["route"] == 'route "x"'
    assert first["consumer"] is None
    assert abs(first["duration_ms"] - 1.2345) < 0.001
    assert (first["status"], first["client_ip"], first["upstream"], first["attempts"]) == (200, "::1", "hello-1", 1)
    assert (first["level"], first["logger"], first["service"], first["event"]) == (
        "info",
        "baton.gateway.access",
        "gateway",
        "request",
    )
    assert second["time"] == "2026-11-27T01:37:03.500Z"
    assert second["consumer"] == "carol"
    assert (second["upstream"], second["trace_id"], second["span_id"]) == (None, None, None)


def test_traceparent_parsing_accepts_only_lower_hex_ids():
    good = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_traceparent(good) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    assert parse_traceparent(good.upper()) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    assert parse_traceparent(b"00-0x" + b"1" * 30 + b"-00f067aa0ba902b7-01") is None
    assert parse_traceparent(b'00-4bf92f3577b34da6a3ce929d0e0e473"-00f067aa0ba902b7-01') is None
    assert parse_traceparent(b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") is None
    assert parse_traceparent(b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01") is None


def test_edge_spans_join_the_callers_trace_or_start_one():
    tracer = EdgeTracer(use_otel=False)
    joined = tracer.start(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "GET")
    assert joined.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert joined.parent_id == "00f067aa0ba902b7"
    assert len(joined.span_id) == 16
    assert joined.span_id != joined.parent_id
    fresh = tracer.start(None, "GET")
    assert len(fresh.trace_id) == 32
    assert len(fresh.span_id) == 16
    assert fresh.parent_id is None
    assert fresh.traceparent == f"00-{fresh.trace_id}-{fresh.span_id}-01".encode()
    assert tracer.start(None, "GET").trace_id != fresh.trace_id
