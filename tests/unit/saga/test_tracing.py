"""The saga engine's spans: a saga span under the starting request, a span per step and compensation attempt with
the step's own calls inside it, and a resumed saga continuing the original trace through the log's traceparent."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from baton.saga import EntryKind, Orchestrator, Saga, SagaStatus, Step, StepContext, StepFailed
from baton.saga import tracing as saga_tracing

from .helpers import FAST_COMPENSATION, FAST_POLICY, FAST_RETRY


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> tuple[InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The process-wide provider can be set once per process; the engine's tracer is pointed at this one instead.
    monkeypatch.setattr(saga_tracing, "_tracer", lambda: provider.get_tracer("baton.saga"))
    return exporter, provider


def _named(finished: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name.startswith(prefix)]


async def test_steps_and_their_calls_nest_under_the_saga_span_under_the_request(store, spans) -> None:
    exporter, provider = spans
    tracer = provider.get_tracer("test")

    async def call(ctx: StepContext) -> None:
        with tracer.start_as_current_span(f"POST /{ctx.step}", kind=SpanKind.CLIENT):
            if ctx.step == "capture" and ctx.phase == "action":
                raise StepFailed("card declined")

    saga = Saga(
        "checkout",
        steps=[Step(n, action=call, compensation=call, retry=FAST_RETRY) for n in ("reserve", "capture")],
    )
    async with Orchestrator(store, [saga], policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION) as orch:
        with tracer.start_as_current_span("POST /v1/orders", kind=SpanKind.SERVER) as request:
            saga_id = await orch.start("checkout", {}, saga_id="o-1", correlation_id="c-1")
        record = await orch.wait(saga_id)
    assert record.status is SagaStatus.COMPENSATED

    finished = exporter.get_finished_spans()
    (saga_span,) = _named(finished, "saga checkout")
    assert saga_span.name == "saga checkout o-1"
    assert saga_span.parent is not None
    assert saga_span.parent.span_id == request.get_span_context().span_id
    assert saga_span.attributes is not None
    assert saga_span.attributes["saga.id"] == "o-1"
    assert saga_span.attributes["saga.name"] == "checkout"
    assert saga_span.attributes["baton.correlation_id"] == "c-1"
    assert saga_span.attributes["saga.status"] == "compensated"

    steps = _named(finished, "saga step") + _named(finished, "saga compensate")
    outcomes = {(s.name, (s.attributes or {})["saga.step.outcome"]) for s in steps}
    assert outcomes == {
        ("saga step reserve", "succeeded"),
        ("saga step capture", "rejected"),
        ("saga compensate reserve", "succeeded"),
    }
    assert all(s.parent is not None and s.parent.span_id == saga_span.context.span_id for s in steps)
    (rejected,) = [s for s in steps if s.name == "saga step capture"]
    assert rejected.status.status_code is StatusCode.ERROR
    # The step's own client call is a child of the step's span.
    (capture_call,) = [s for s in finished if s.name == "POST /capture"]
    assert capture_call.parent is not None
    assert capture_call.parent.span_id == rejected.context.span_id
    trace_ids = {s.context.trace_id for s in finished}
    assert trace_ids == {request.get_span_context().trace_id}


async def test_a_resumed_saga_continues_the_original_trace(store, spans) -> None:
    exporter, provider = spans
    release = asyncio.Event()
    entered = asyncio.Event()

    async def ok(ctx: StepContext) -> None:
        return None

    async def blocking(ctx: StepContext) -> None:
        entered.set()
        await release.wait()

    saga = Saga("checkout", steps=[Step("reserve", action=ok), Step("capture", action=blocking, timeout=30)])
    first = Orchestrator(store, [saga], owner="first", policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION)
    await first.open()
    with provider.get_tracer("test").start_as_current_span("POST /v1/orders") as request:
        await first.start("checkout", {}, saga_id="o-2")
    await asyncio.wait_for(entered.wait(), 10)
    await first.aclose()  # the process goes away mid-step; the log holds the saga's traceparent

    history = await store.history("o-2")
    stored = [e.payload.get("traceparent") for e in history.entries if e.kind is EntryKind.STEP_STARTED]
    assert stored
    assert all(stored)

    release.set()
    async with Orchestrator(
        store, [saga], owner="second", policy=FAST_POLICY, compensation_retry=FAST_COMPENSATION
    ) as second:
        record = await second.wait("o-2")
    assert record.status is SagaStatus.COMPLETED

    runs = _named(exporter.get_finished_spans(), "saga checkout")
    assert len(runs) == 2
    original, resumed = sorted(runs, key=lambda s: s.start_time or 0)
    trace_id = request.get_span_context().trace_id
    assert original.context.trace_id == resumed.context.trace_id == trace_id
    assert (resumed.attributes or {})["saga.resumed"] is True
    assert resumed.parent is not None
    assert resumed.parent.span_id == original.context.span_id
    assert [link.context.span_id for link in resumed.links] == [original.context.span_id]
