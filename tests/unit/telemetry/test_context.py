"""Correlation id and W3C trace context travel through inject/extract."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from baton.telemetry import context


def test_bind_creates_an_id_when_none_is_given_and_restores_the_previous_one() -> None:
    assert context.get_correlation_id() is None
    with context.bind_correlation_id(None) as cid:
        assert len(cid) == 32
        assert context.get_correlation_id() == cid
        with context.bind_correlation_id("inner") as inner:
            assert inner == "inner"
        assert context.get_correlation_id() == cid
    assert context.get_correlation_id() is None


def test_inject_then_attached_carries_trace_and_correlation_across_a_boundary() -> None:
    tracer = TracerProvider().get_tracer("test")
    carrier: dict[str, str] = {}
    with context.bind_correlation_id("corr-1"), tracer.start_as_current_span("outgoing") as span:
        context.inject(carrier)
        sent_trace_id = span.get_span_context().trace_id
    assert carrier["X-Correlation-ID"] == "corr-1"
    assert carrier["traceparent"].split("-")[1] == f"{sent_trace_id:032x}"

    with context.attached({k.lower(): v for k, v in carrier.items()}) as cid:
        assert cid == "corr-1"
        received = trace.get_current_span().get_span_context()
        assert received.trace_id == sent_trace_id
        assert received.is_remote
    assert context.get_correlation_id() is None
