"""Trace context at the edge: every request gets a span id, joined to the caller's trace when it sent one.

By default the gateway only mints W3C ids (a few hundred nanoseconds) and forwards ``traceparent`` with its
own span as the parent, so the upstream's spans hang under the gateway's; the ids appear in the access log.
When an OpenTelemetry SDK ``TracerProvider`` is installed (``OTEL_EXPORTER_OTLP_ENDPOINT`` set for the
process, or the control plane configured one), real spans are recorded and exported as well.
"""

from __future__ import annotations

import random
import re
import time
from binascii import hexlify
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

_rng = random.Random()
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?")


def parse_traceparent(value: bytes | None) -> tuple[str, str, str] | None:
    """``(trace_id, parent_span_id, flags)`` from a valid ``traceparent`` header (lower-case hex only)."""
    if value is None or len(value) < 55:
        return None
    try:
        text = value.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return None
    match = _TRACEPARENT.fullmatch(text)
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == "ff" or trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id, parent_id, flags


class EdgeSpan:
    """The gateway's span for one request."""

    __slots__ = ("otel", "parent_id", "traceparent")

    def __init__(self, trace_id: str, span_id: str, parent_id: str | None, flags: str, otel: Any = None) -> None:
        self.parent_id = parent_id
        self.traceparent = f"00-{trace_id}-{span_id}-{flags}".encode()
        """What the upstream receives: the same trace, with this span as the parent (the ids are read from it)."""
        self.otel = otel

    @classmethod
    def new_trace(cls) -> EdgeSpan:
        """A span starting a new trace (sampled), without OpenTelemetry: one random draw per id, no ``__init__``.

        The hot path's form (the exchange inlines it): an object and its ``traceparent``, nothing derived; the
        digits come from ``hexlify`` (bytes ``%x`` formatting goes through a string per number, twice the cost).
        """
        span = object.__new__(cls)
        ids = hexlify(_rng.getrandbits(192).to_bytes(24, "little"))  # both ids' hex digits, as bytes
        span.traceparent = b"-".join((b"00", ids[:32], ids[32:], b"01"))
        span.parent_id = span.otel = None
        return span

    @property
    def trace_id(self) -> str:
        """The trace's id (32 hex digits)."""
        return self.traceparent[3:35].decode()

    @property
    def span_id(self) -> str:
        """This span's id (16 hex digits)."""
        return self.traceparent[36:52].decode()

    def end(self, status: int, attributes: dict[str, Any]) -> None:
        """Finish the span (exports it when OpenTelemetry is recording)."""
        span = self.otel
        if span is not None:
            span.set_attributes(attributes)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()


class EdgeTracer:
    """Starts :class:`EdgeSpan` objects: cheap ids by default, real OpenTelemetry spans when an SDK is set."""

    def __init__(self, *, use_otel: bool | None = None) -> None:
        if use_otel is None:
            provider = trace.get_tracer_provider()
            use_otel = type(provider).__module__.startswith("opentelemetry.sdk")
        self._tracer = trace.get_tracer("baton.gateway") if use_otel else None
        self.ids_only = self._tracer is None
        """No OpenTelemetry SDK: spans are ids only (the hot path mints them inline for new traces)."""

    def start(self, incoming: bytes | None, name: str) -> EdgeSpan:
        """A span joined to ``incoming`` (a ``traceparent`` header) or starting a new trace."""
        parent = parse_traceparent(incoming)
        if self._tracer is None:
            if parent is not None:
                return EdgeSpan(parent[0], "%016x" % _rng.getrandbits(64), parent[1], parent[2])  # noqa: UP031
            return EdgeSpan.new_trace()
        context = None
        if parent is not None:
            remote = SpanContext(
                int(parent[0], 16), int(parent[1], 16), is_remote=True, trace_flags=TraceFlags(int(parent[2], 16))
            )
            context = trace.set_span_in_context(NonRecordingSpan(remote))
        span = self._tracer.start_span(name, context=context, kind=SpanKind.SERVER, start_time=time.time_ns())
        ctx = span.get_span_context()
        return EdgeSpan(
            f"{ctx.trace_id:032x}",
            f"{ctx.span_id:016x}",
            parent[1] if parent else None,
            f"{int(ctx.trace_flags):02x}",
            otel=span,
        )
