"""Decode OTLP/HTTP trace export requests (protobuf or JSON) into :class:`~baton.telemetry.spans.SpanRecord`.

The OTLP JSON encoding is protobuf's JSON mapping with one exception the spec makes on purpose: trace and span
ids are *hex* strings, not base64. They are rewritten to base64 before ``json_format`` parses the document, so
both encodings go through the same protobuf message and the same conversion below.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

# protobuf ships no type stubs; the generated OTLP messages below carry their own.
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from baton.errors import TelemetryError
from baton.telemetry.spans import SpanRecord

__all__ = ["decode_json", "decode_protobuf", "empty_response", "spans_of"]

_KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}
_HEX_ID = re.compile(r"^(?:[0-9a-fA-F]{16}|[0-9a-fA-F]{32})$")
_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def decode_protobuf(body: bytes) -> list[SpanRecord]:
    """Spans of a binary-protobuf ``ExportTraceServiceRequest``.

    Raises:
        TelemetryError: ``body`` is not a valid request.
    """
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise TelemetryError(f"invalid OTLP protobuf payload: {exc}") from exc
    return spans_of(request)


def decode_json(body: bytes) -> list[SpanRecord]:
    """Spans of a JSON-encoded ``ExportTraceServiceRequest`` (hex ids, per the OTLP spec).

    Raises:
        TelemetryError: ``body`` is not valid JSON or not a valid request.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TelemetryError(f"invalid OTLP JSON payload: {exc}") from exc
    if not isinstance(document, dict):
        raise TelemetryError("invalid OTLP JSON payload: expected an object")
    _hex_ids_to_base64(document)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise TelemetryError(f"invalid OTLP JSON payload: {exc}") from exc
    return spans_of(request)


def empty_response(*, json: bool) -> bytes:
    """The body of a fully successful export answer, in the request's encoding."""
    response = ExportTraceServiceResponse()
    return b"{}" if json else response.SerializeToString()


def spans_of(request: ExportTraceServiceRequest) -> list[SpanRecord]:
    """Flatten a request's resource → scope → span hierarchy into records."""
    records: list[SpanRecord] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "unknown"))
        instance = resource.get("service.instance.id")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                records.append(_record(span, service, None if instance is None else str(instance)))
    return records


def _record(span: Span, service: str, instance: str | None) -> SpanRecord:
    return SpanRecord(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=span.name,
        service=service,
        instance=instance,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        kind=_KINDS.get(span.kind, "internal"),
        error=span.status.code == Status.STATUS_CODE_ERROR,
        status_message=span.status.message,
        attributes=_attributes(span.attributes),
        events=[
            {"name": e.name, "time_ns": e.time_unix_nano, "attributes": _attributes(e.attributes)} for e in span.events
        ],
        links=[{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()} for link in span.links],
    )


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs if isinstance(kv, KeyValue)}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _hex_ids_to_base64(node: Any) -> None:
    # Ids only occur in spans and links; walking the whole tree is simpler than naming every path and cheap
    # next to protobuf parsing. A value that is not hex is left alone (some senders use base64 anyway).
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str) and _HEX_ID.match(value):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)
