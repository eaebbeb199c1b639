"""A span exporter speaking OTLP/HTTP with the JSON encoding, on the standard library's ``http.client``.

Every instance exports its spans to the control plane's receiver. The reference exporter
(``opentelemetry-exporter-otlp-proto-http``) brings protobuf, the generated OTLP messages, ``requests`` and
``urllib3`` into each process: about 8 MB of memory and 200 modules per instance, for one POST now and then. The
OTLP specification defines a JSON encoding of the same messages (protobuf's JSON mapping, with trace and span ids
as hex strings), which the receiver (:mod:`baton.telemetry.otlp`) and OpenTelemetry Collectors accept; this
exporter writes it with orjson and sends it with ``http.client``. Collectors given by ``BATON_OTLP_ENDPOINT`` and
friends still get the reference exporter (:func:`baton.telemetry.export.exporters_from_env`).
"""

from __future__ import annotations

import base64
import http.client
import logging
import ssl
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

__all__ = ["JsonSpanExporter", "encode_spans"]

log = logging.getLogger("baton.telemetry.otlp_json")

EXPORT_TIMEOUT = 10.0
"""Seconds one export request may take."""


class JsonSpanExporter(SpanExporter):
    """Export spans to ``endpoint`` (a full ``.../v1/traces`` URL) as OTLP/HTTP JSON."""

    def __init__(self, endpoint: str, *, timeout: float = EXPORT_TIMEOUT, headers: Mapping[str, str] | None = None):
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {endpoint!r}")
        self.endpoint = endpoint
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """POST one batch; ``FAILURE`` (logged at debug level) when the receiver is unreachable or refuses it."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        body = encode_spans(spans)
        with self._lock:
            for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile fails once
                try:
                    status = self._post(body)
                except (OSError, http.client.HTTPException) as exc:
                    self._close()
                    if attempt == 2:
                        log.debug("span export to %s failed: %s", self.endpoint, exc)
                        return SpanExportResult.FAILURE
                    continue
                if 200 <= status < 300:
                    return SpanExportResult.SUCCESS
                log.debug("span export to %s answered HTTP %s", self.endpoint, status)
                return SpanExportResult.FAILURE
        return SpanExportResult.FAILURE  # pragma: no cover - the loop always returns

    def shutdown(self) -> None:
        """Refuse further exports and close the connection."""
        self._shutdown = True
        with self._lock:
            self._close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here (the batch processor buffers)."""
        return True

    def _post(self, body: bytes) -> int:
        if self._connection is None:
            if self._https:
                self._connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
                )
            else:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        self._connection.request("POST", self._path, body=body, headers=self._headers)
        response = self._connection.getresponse()
        response.read()
        if response.will_close:
            self._close()
        return response.status

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """An ``ExportTraceServiceRequest`` in OTLP's JSON encoding, spans grouped by resource and scope."""
    resources: dict[int, tuple[Any, dict[tuple[str, str], list[dict[str, Any]]]]] = {}
    for span in spans:
        resource = span.resource
        entry = resources.setdefault(id(resource), (resource, {}))
        scope = span.instrumentation_scope
        key = (scope.name, scope.version or "") if scope is not None else ("", "")
        entry[1].setdefault(key, []).append(_span(span))
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(resource.attributes if resource is not None else {})},
                "scopeSpans": [
                    {"scope": {"name": name, "version": version}, "spans": encoded}
                    for (name, version), encoded in scopes.items()
                ],
            }
            for resource, scopes in resources.values()
        ]
    }
    return orjson.dumps(document)


_STATUS_CODES = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
# The SDK counts kinds from INTERNAL = 0, OTLP from UNSPECIFIED = 0.
_KINDS = {kind: kind.value + 1 for kind in SpanKind}


def _span(span: ReadableSpan) -> dict[str, Any]:
    # Runs on the exporter thread once per exported span, whose CPU the service pays too: enum lookups through
    # dicts, each property read once, string attributes (nearly all of them) encoded without the type dispatch.
    context = span.context
    assert context is not None  # an SDK span always has one
    start, end = span.start_time, span.end_time
    attributes = span.attributes
    encoded: dict[str, Any] = {
        "traceId": format(context.trace_id, "032x"),
        "spanId": format(context.span_id, "016x"),
        "name": span.name,
        "kind": _KINDS.get(span.kind, 0),
        "startTimeUnixNano": str(start) if start else "0",
        "endTimeUnixNano": str(end) if end else "0",
        "attributes": _attributes(attributes) if attributes else [],
        "flags": int(context.trace_flags),
    }
    parent = span.parent
    if parent is not None:
        encoded["parentSpanId"] = format(parent.span_id, "016x")
    trace_state = context.trace_state
    if trace_state:
        encoded["traceState"] = trace_state.to_header()
    events = span.events
    if events:
        encoded["events"] = [
            {
                "timeUnixNano": str(event.timestamp),
                "name": event.name,
                "attributes": _attributes(event.attributes or {}),
            }
            for event in events
        ]
    links = span.links
    if links:
        encoded["links"] = [
            {
                "traceId": format(link.context.trace_id, "032x"),
                "spanId": format(link.context.span_id, "016x"),
                "attributes": _attributes(link.attributes or {}),
            }
            for link in links
        ]
    status = span.status
    code = _STATUS_CODES.get(status.status_code, 0)
    if code or status.description:
        encoded["status"] = {"code": code, **({"message": status.description} if status.description else {})}
    for field, count in (
        ("droppedAttributesCount", span.dropped_attributes),
        ("droppedEventsCount", span.dropped_events),
        ("droppedLinksCount", span.dropped_links),
    ):
        if count:
            encoded[field] = count
    return encoded


# Encoded attribute lists by their items: a service's spans repeat a few attribute sets (method, route, status,
# path), and looking one up costs a fraction of encoding it. Shared lists are never mutated (orjson only reads).
# The key holds the values' types too: 1, 1.0 and True are equal but encode differently.
_encoded_attributes: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
_ENCODED_ATTRIBUTES_MAX = 2048


def _attributes(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = tuple(attributes.items())
    key = (items, tuple(map(type, attributes.values())))
    try:
        cached = _encoded_attributes.get(key)
    except TypeError:  # an unhashable value (a list): encode, do not remember
        return _encode_attributes(items)
    if cached is None:
        cached = _encode_attributes(items)
        if len(_encoded_attributes) >= _ENCODED_ATTRIBUTES_MAX:
            _encoded_attributes.clear()
        _encoded_attributes[key] = cached
    return cached


def _encode_attributes(items: tuple[tuple[str, Any], ...]) -> list[dict[str, Any]]:
    return [
        {"key": key, "value": {"stringValue": value} if type(value) is str else _value(value)} for key, value in items
    ]


def _value(value: Any) -> dict[str, Any]:
    kind = type(value)
    if kind is str:
        return {"stringValue": value}
    if kind is bool or isinstance(value, bool):  # before int: bool is an int
        return {"boolValue": value}
    if kind is int or isinstance(value, int):
        return {"intValue": str(value)}
    if kind is float or isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_value(item) for item in value]}}
    return {"stringValue": str(value)}
