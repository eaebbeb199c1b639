"""The access log's line template and the edge's trace ids: valid JSON whatever a client sends."""

from __future__ import annotations

import io
import re

import orjson

from baton.gateway.accesslog import AccessLog
from baton.gateway.tracing import EdgeSpan, EdgeTracer, parse_traceparent


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


def test_batched_lines_and_metrics_equal_the_per_request_ones():
    from types import SimpleNamespace

    from baton.gateway.metrics import RedMetrics
    from baton.gateway.policies.base import Principal
    from baton.gateway.tracing import EdgeSpan

    span = EdgeSpan("a" * 32, "b" * 16, None, "01")
    traced = SimpleNamespace(
        route_name="r",
        method="GET",
        path='/v1/"x"',
        status=200,
        principal=Principal(consumer="carol"),
        client_ip="10.0.0.1",
        instance=SimpleNamespace(id="hello-1"),
        attempt=1,
        correlation_id="c1",
        span=span,
    )
    untraced = SimpleNamespace(
        route_name="",
        method="POST",
        path="/",
        status=503,
        principal=None,
        client_ip="::1",
        instance=None,
        attempt=0,
        correlation_id="c2",
        span=None,
    )
    now = 1_795_743_422.0456
    one, batch = io.BytesIO(), io.BytesIO()
    single, batched = AccessLog(one), AccessLog(batch)
    single.request(now, "GET", '/v1/"x"', 200, 0.002, "r", "carol", "10.0.0.1", "hello-1", 1, "c1", "a" * 32, "b" * 16)
    single.request(now, "POST", "/", 503, 0.5, "-", None, "::1", None, 0, "c2", None, None)
    batched.exchanges([(traced, 0.002), (untraced, 0.5)], now)
    single.flush()
    batched.flush()
    assert batch.getvalue() == one.getvalue()
    assert orjson.loads(batch.getvalue().splitlines()[0])["trace_id"] == "a" * 32
    assert b'"method":"GET","path":"/v1/\\"x\\"",' in one.getvalue()
    assert b'"client_ip":"10.0.0.1",' in one.getvalue()
    assert b'"method":"POST",' in one.getvalue()
    assert b'"client_ip":"::1",' in one.getvalue()

    each, together = RedMetrics(), RedMetrics()
    each.observe("r", "GET", 200, 0.002, "carol")
    each.observe("-", "POST", 503, 0.5, None)
    together.observe_exchanges([(traced, 0.002), (untraced, 0.5)])
    assert together.render() == each.render()
    assert together.requests() == 2


def test_a_new_trace_span_reads_its_ids_from_its_traceparent():
    first, second = EdgeSpan.new_trace(), EdgeSpan.new_trace()
    assert re.fullmatch(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-01", first.traceparent)
    assert first.traceparent == f"00-{first.trace_id}-{first.span_id}-01".encode()
    assert first.parent_id is None
    assert first.otel is None
    assert first.trace_id != second.trace_id
    assert first.span_id != second.span_id
    assert parse_traceparent(first.traceparent) == (first.trace_id, first.span_id, "01")
