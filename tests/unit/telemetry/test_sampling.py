"""Head sampling with errors always kept: the recording sampler and the error tail processor, on the real SDK."""

from __future__ import annotations

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from baton.telemetry.sampling import ErrorTailProcessor, keep_errors_sampler


def pipeline(ratio: float, **options):
    exporter = InMemorySpanExporter()
    tail = ErrorTailProcessor(SimpleSpanProcessor(exporter), **options)
    provider = TracerProvider(sampler=keep_errors_sampler(ratio))
    provider.add_span_processor(tail)
    return provider.get_tracer("test"), exporter, tail


def request(tracer, *, fail: str | None = None, context=None):
    """A server span with two children (db, then call); ``fail`` names the one ending in error."""
    with tracer.start_as_current_span("server", context=context) as server:
        for name in ("db", "call"):
            with tracer.start_as_current_span(name) as child:
                if name == fail:
                    child.set_status(Status(StatusCode.ERROR))
        if fail is not None:
            server.set_status(Status(StatusCode.ERROR))
    return server


def names(exporter):
    return [s.name for s in exporter.get_finished_spans()]


def test_unsampled_traces_without_errors_are_not_exported_and_leave_no_buffer():
    tracer, exporter, tail = pipeline(0.0)

    span = request(tracer)

    assert not span.get_span_context().trace_flags.sampled
    assert span.is_recording() is False  # ended
    assert names(exporter) == []
    assert tail.buffered_traces() == 0


def test_an_error_keeps_the_whole_local_trace_even_when_the_head_said_no():
    tracer, exporter, tail = pipeline(0.0)

    request(tracer, fail="call")

    assert names(exporter) == ["db", "call", "server"]
    assert all(s.context.trace_flags.sampled for s in exporter.get_finished_spans())
    assert len({s.context.trace_id for s in exporter.get_finished_spans()}) == 1
    assert tail.buffered_traces() == 0


def test_sampled_traces_pass_straight_through():
    tracer, exporter, _ = pipeline(1.0)

    request(tracer)

    assert names(exporter) == ["db", "call", "server"]


@pytest.mark.parametrize(("ratio", "low", "high"), [(0.1, 50, 150), (0.5, 420, 580)])
def test_the_head_ratio_is_honoured_for_healthy_traffic(ratio, low, high):
    tracer, exporter, _ = pipeline(ratio)

    for _ in range(1000):
        request(tracer)

    assert low <= len(exporter.get_finished_spans()) // 3 <= high


def test_an_unsampled_remote_parent_is_honoured_but_errors_are_still_kept():
    tracer, exporter, _ = pipeline(1.0)
    parent = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=TraceFlags(0))
    remote = trace.set_span_in_context(NonRecordingSpan(parent), otel_context.Context())

    request(tracer, context=remote)
    healthy = names(exporter)
    request(tracer, fail="db", context=remote)

    assert healthy == []
    exported = exporter.get_finished_spans()
    assert [s.name for s in exported] == ["db", "call", "server"]
    assert exported[-1].parent.span_id == 0xDEF


def test_buffers_are_bounded_when_roots_never_end():
    tracer, exporter, tail = pipeline(0.0, max_traces=3, max_spans_per_trace=2)
    roots = [tracer.start_span("root") for _ in range(5)]
    for root in roots:
        ctx = trace.set_span_in_context(root)
        for i in range(4):
            tracer.start_span(f"child{i}", context=ctx).end()

    assert tail.buffered_traces() == 3
    failing = tracer.start_span("boom", context=trace.set_span_in_context(roots[-1]))
    failing.set_status(Status(StatusCode.ERROR))
    failing.end()
    # The two buffered children of the newest trace, then the error itself.
    assert names(exporter) == ["child0", "child1", "boom"]


def test_discard_drops_the_traces_buffer_and_later_healthy_spans_of_it_are_not_buffered():
    tracer, exporter, tail = pipeline(0.0, max_traces=8)
    root = NonRecordingSpan(SpanContext(0xABC, 0x1, is_remote=False, trace_flags=TraceFlags(0)))
    ctx = trace.set_span_in_context(root)
    tracer.start_span("child", context=ctx).end()
    assert tail.buffered_traces() == 1
    tail.discard(0xABC)  # the local root (built by a caller as plain values) ended cleanly
    assert tail.buffered_traces() == 0
    tracer.start_span("saga step", context=ctx).end()  # outlives the request: not buffered
    assert tail.buffered_traces() == 0
    failing = tracer.start_span("saga step fails", context=ctx)
    failing.set_status(Status(StatusCode.ERROR))
    failing.end()
    assert names(exporter) == ["saga step fails"]


def test_closed_trace_marks_stay_bounded():
    _, _, tail = pipeline(0.0, max_traces=8)
    for trace_id in range(1, 100):
        tail.discard(trace_id)
    assert len(tail._closed) <= 8 + 1
    assert 99 in tail._closed  # the newest are kept
