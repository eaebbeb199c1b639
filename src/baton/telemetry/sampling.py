"""Head sampling by ratio, with errors always kept (a tail decision at the exporter).

OpenTelemetry samples at the *head*: whether a trace is kept is decided when its root span starts, long before
anyone knows it will fail. To keep errors anyway, the two halves of the SDK pipeline are split:

1. :func:`keep_errors_sampler` is a parent-based ratio sampler whose "no" is ``RECORD_ONLY`` instead of
   ``DROP``: unsampled spans are still recorded (and reach span processors) but their ``traceparent`` still
   says *not sampled*, so downstream services honour the head decision;
2. :class:`ErrorTailProcessor` sits in front of the exporting processor: sampled spans pass straight through;
   unsampled spans wait in a small per-trace buffer. When a span of that trace ends with status ERROR, the
   buffered spans of the trace, the error span and every later span of the trace in this process are
   exported; when the trace's local root ends without an error the buffer is dropped.

Children end before their parents, so the error's ancestors in this process (the server span answering 5xx
included) are exported as they end. Each service on the failing path decides on its own, so a failing
checkout is kept from the gateway down to the failing service; services the trace visited without error keep
following the head decision.

The price is recording every span (attributes, timing) even at low ratios; ``bench/telemetry.py`` measures it.
The kit's server span avoids most of it: for a provider built by :func:`baton.telemetry.export.build_provider`
(see :func:`register_tail`) the kit's telemetry middleware takes the head decision itself, keeps an unsampled
request's span as a few plain values and builds a span only when the answer is a 5xx (:meth:`ErrorTailProcessor.keep`);
otherwise it drops what the tail buffered for the trace (:meth:`ErrorTailProcessor.discard`).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanContext, SpanKind, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

__all__ = [
    "RECORD_ONLY",
    "ErrorTailProcessor",
    "RecordingRatioSampler",
    "Tail",
    "keep_errors_sampler",
    "register_tail",
    "tail_of",
]

RECORD_ONLY = StaticSampler(Decision.RECORD_ONLY)
"""Record every span, sample none (the parent said no; the tail processor may still keep errors)."""


class RecordingRatioSampler(Sampler):
    """Sample ``ratio`` of new traces by trace id; record the rest without sampling them."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """The ratio's decision, with ``DROP`` turned into ``RECORD_ONLY``."""
        result = self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is Decision.DROP:
            return SamplingResult(Decision.RECORD_ONLY, attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        """Sampler name shown by the SDK."""
        return f"RecordingRatio{{{self._ratio.rate}}}"


def keep_errors_sampler(ratio: float) -> Sampler:
    """Parent-based: honour an incoming decision, sample ``ratio`` of new traces, record everything else."""
    return ParentBased(
        RecordingRatioSampler(ratio),
        remote_parent_not_sampled=RECORD_ONLY,
        local_parent_not_sampled=RECORD_ONLY,
    )


class ErrorTailProcessor(SpanProcessor):
    """Forward sampled spans to ``delegate``; forward unsampled ones only for traces where an error occurred.

    Args:
        delegate: the exporting processor (typically a ``BatchSpanProcessor``).
        max_traces: unsampled traces buffered at once; the oldest buffer is dropped beyond it (a trace whose
            root never ends must not pin memory).
        max_spans_per_trace: spans buffered per trace; later ones are not buffered.
    """

    def __init__(self, delegate: SpanProcessor, *, max_traces: int = 4096, max_spans_per_trace: int = 512) -> None:
        self.delegate = delegate
        self.max_traces = max_traces
        self.max_spans_per_trace = max_spans_per_trace
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, list[ReadableSpan]] = OrderedDict()
        self._kept: OrderedDict[int, None] = OrderedDict()
        self._closed: OrderedDict[int, None] = OrderedDict()
        """Unsampled traces whose local root ended cleanly (:meth:`discard`): their later spans — a saga that
        outlives the request that started it — are not buffered, only an error among them is exported."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Pass through (the exporting processors do nothing here)."""
        self.delegate.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Export now, buffer, or drop — see the module docstring."""
        context = span.context
        if context is None:
            return
        if context.trace_flags.sampled:
            self.delegate.on_end(span)
            return
        trace_id = context.trace_id
        local_root = span.parent is None or span.parent.is_remote
        with self._lock:
            if trace_id in self._kept:
                flush = [span]
            elif span.status.status_code is StatusCode.ERROR:
                flush = [*self._pending.pop(trace_id, []), span]
                self._remember_kept(trace_id)
            else:
                flush = []
                if local_root:
                    self._pending.pop(trace_id, None)
                elif trace_id not in self._closed:
                    self._buffer(trace_id, span)
        for item in flush:
            self.delegate.on_end(_promoted(item))

    def shutdown(self) -> None:
        """Shut the delegate down; buffered spans of traces without errors are dropped."""
        with self._lock:
            self._pending.clear()
        self.delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the delegate."""
        return self.delegate.force_flush(timeout_millis)

    def keep(self, span: ReadableSpan) -> None:
        """Export ``span`` (built by a caller that kept it as plain values) and the trace's buffered spans.

        For an unsampled trace the trace is kept from now on, like when a recorded span fails.
        """
        context = span.context
        if context is None:
            return
        if context.trace_flags.sampled:
            self.delegate.on_end(span)
            return
        with self._lock:
            flush = [*self._pending.pop(context.trace_id, []), span]
            self._remember_kept(context.trace_id)
        for item in flush:
            self.delegate.on_end(_promoted(item))

    def discard(self, trace_id: int) -> None:
        """The local root of an unsampled trace ended without an error: drop what was buffered for it.

        Called for most requests (every unsampled one that succeeds), so the lock is only taken when there is
        something to drop: the trace is marked closed first (one atomic store), so a span of it ending in
        another thread either sees the mark and is not buffered, or was buffered before and is found here.
        """
        closed = self._closed
        closed[trace_id] = None
        # The oldest marks go by the batch (an eighth over the bound), not one per call.
        if trace_id in self._pending or len(closed) > self.max_traces + (self.max_traces >> 3):
            with self._lock:
                self._pending.pop(trace_id, None)
                while len(closed) > self.max_traces:
                    closed.popitem(last=False)

    def buffered_traces(self) -> int:
        """Unsampled traces currently buffered (for tests and self-monitoring)."""
        with self._lock:
            return len(self._pending)

    def _buffer(self, trace_id: int, span: ReadableSpan) -> None:
        spans = self._pending.get(trace_id)
        if spans is None:
            spans = self._pending[trace_id] = []
            while len(self._pending) > self.max_traces:
                self._pending.popitem(last=False)
        if len(spans) < self.max_spans_per_trace:
            spans.append(span)

    def _remember_kept(self, trace_id: int) -> None:
        self._kept[trace_id] = None
        while len(self._kept) > self.max_traces:
            self._kept.popitem(last=False)


def _promoted(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` flagged as sampled, so exporting processors (which skip unsampled spans) take it."""
    context = span.context
    assert context is not None
    sampled = SpanContext(
        trace_id=context.trace_id,
        span_id=context.span_id,
        is_remote=context.is_remote,
        trace_flags=TraceFlags(context.trace_flags | TraceFlags.SAMPLED),
        trace_state=context.trace_state,
    )
    return ReadableSpan(
        name=span.name,
        context=sampled,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


@dataclass(frozen=True, slots=True)
class Tail:
    """What a caller taking the head decision itself needs from a provider built by ``build_provider``."""

    ratio: float
    bound: int
    """``TraceIdRatioBased``'s bound: a new trace is sampled when the low 64 bits of its id are below it."""
    processor: SpanProcessor
    """Where finished sampled spans go (``on_end``): the error tail, or the exporting processor in head-only mode."""
    resource: Resource
    errors: ErrorTailProcessor | None = None
    """The error tail (``keep``/``discard``) when errors are kept past head sampling; ``None``: head sampling only
    (``BATON_TRACE_KEEP_ERRORS=0``) — an unsampled request builds nothing, whatever its status."""


_tails: weakref.WeakKeyDictionary[TracerProvider, Tail] = weakref.WeakKeyDictionary()


def register_tail(provider: TracerProvider, *, ratio: float, processor: SpanProcessor) -> None:
    """Declare that ``provider`` samples new traces at ``ratio`` (parent-based) and exports through ``processor``
    only: with :func:`keep_errors_sampler` when ``processor`` is an :class:`ErrorTailProcessor`, with
    ``ParentBased(TraceIdRatioBased(ratio))`` otherwise (head sampling only)."""
    errors = processor if isinstance(processor, ErrorTailProcessor) else None
    _tails[provider] = Tail(ratio, TraceIdRatioBased.get_bound_for_rate(ratio), processor, provider.resource, errors)


def tail_of(provider: object) -> Tail | None:
    """The :class:`Tail` registered for ``provider`` (``None``: use the SDK as is)."""
    if isinstance(provider, TracerProvider):
        return _tails.get(provider)
    return None
