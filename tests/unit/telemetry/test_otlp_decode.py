"""Decoding OTLP trace exports (protobuf as the SDK sends it, and the spec's JSON encoding)."""

from __future__ import annotations

import orjson
import pytest

from baton.errors import TelemetryError
from baton.telemetry.otlp import decode_json, decode_protobuf

from .otlp_samples import json_payload, protobuf_payload, sdk_spans


def test_protobuf_from_the_sdk_encoder_decodes_to_the_same_spans():
    originals = sdk_spans()

    records = {r.name: r for r in decode_protobuf(protobuf_payload(originals))}

    server, client = records["POST /v1/orders"], records["POST payment"]
    server_ctx = next(s for s in originals if s.name == "POST /v1/orders").context
    assert server.trace_id == format(server_ctx.trace_id, "032x")
    assert server.span_id == format(server_ctx.span_id, "016x")
    assert server.parent_span_id is None
    assert client.parent_span_id == server.span_id
    assert (server.service, server.instance, server.kind, client.kind) == ("order", "order-1", "server", "client")
    assert server.attributes == {"http.route": "/v1/orders"}
    assert client.error is True
    assert client.status_message == "payment down"
    assert server.error is False
    assert client.events[0]["name"] == "retry"
    assert client.events[0]["attributes"] == {"attempt": 2}
    assert len(client.links) == 1
    assert client.links[0]["trace_id"] == server.trace_id
    assert client.end_ns >= client.start_ns > 0


def test_json_encoding_uses_hex_ids_and_typed_values():
    (record,) = decode_json(orjson.dumps(json_payload()))

    assert record.trace_id == "5b8efff798038103d269b633813fc60c"
    assert record.span_id == "eee19b7ec3c1b174"
    assert record.parent_span_id == "eee19b7ec3c1b173"
    assert (record.service, record.instance, record.kind) == ("catalog", "catalog-2", "server")
    assert record.duration_ns == 1_000_000_000
    assert record.error is True
    assert record.status_message == "upstream down"
    assert record.attributes == {"http.response.status_code": 503, "cache.hit": False, "ratio": 0.5, "ids": ["a"]}


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (decode_protobuf, b"\xff\xff\xff not protobuf"),
        (decode_json, b"{not json"),
        (decode_json, b"[1, 2]"),
        (decode_json, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}'),
    ],
)
def test_malformed_payloads_raise_telemetry_errors(decode, body):
    with pytest.raises(TelemetryError):
        decode(body)
