"""The kit's telemetry layer with the provider ``build_provider`` makes (errors kept): the head decision is taken
in the middleware, unsampled requests build no span unless they answer 5xx, and then the spans buffered for the
trace are exported with it; sampled requests export one server span that joins the caller's trace."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from baton.kit import Service
from baton.telemetry.context import inject
from baton.telemetry.sampling import ErrorTailProcessor, keep_errors_sampler, register_tail

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


@pytest.fixture
def pipeline(monkeypatch):
    """``pipeline(ratio)``: a keep-errors provider, made global for this test only; its exporter and tail."""

    def build(ratio: float) -> tuple[InMemorySpanExporter, ErrorTailProcessor]:
        exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=keep_errors_sampler(ratio))
        tail = ErrorTailProcessor(SimpleSpanProcessor(exporter))
        provider.add_span_processor(tail)
        register_tail(provider, ratio=ratio, processor=tail)
        monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
        return exporter, tail

    return build


def _service(outgoing: dict[str, str]) -> Service:
    service = Service("traced")

    @service.get("/v1/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        with trace.get_tracer("test").start_as_current_span("lookup", kind=SpanKind.CLIENT):
            inject(outgoing)  # what a client call from this handler would send on
        return {"id": item_id}

    @service.get("/v1/fail")
    async def fail() -> None:
        with trace.get_tracer("test").start_as_current_span("lookup", kind=SpanKind.CLIENT):
            pass
        raise ValueError("nope")

    return service


async def test_a_sampled_request_exports_its_server_span_in_the_callers_trace(serving, pipeline):
    exporter, _ = pipeline(0.0)
    outgoing: dict[str, str] = {}
    async with serving(_service(outgoing)) as client:
        response = await client.get("/v1/items/5", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert response.status_code == 200
    spans = {s.name: s for s in exporter.get_finished_spans()}
    server = spans["GET /v1/items/{item_id}"]
    assert server.kind is SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == PARENT_ID
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/v1/items/{item_id}"
    assert server.attributes["http.response.status_code"] == 200
    assert server.end_time is not None
    assert server.start_time is not None
    assert server.end_time >= server.start_time
    # The handler's span is the server span's child, and the outgoing traceparent names that child, sampled.
    lookup = spans["lookup"]
    assert lookup.parent is not None
    assert lookup.parent.span_id == server.context.span_id
    assert outgoing["traceparent"] == f"00-{TRACE_ID}-{lookup.context.span_id:016x}-01"


async def test_an_unsampled_healthy_request_exports_nothing_and_buffers_nothing(serving, pipeline):
    exporter, tail = pipeline(1.0)
    outgoing: dict[str, str] = {}
    async with serving(_service(outgoing)) as client:
        # The caller decided "not sampled": honoured even at ratio 1.
        response = await client.get("/v1/items/5", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})
    assert response.status_code == 200
    assert exporter.get_finished_spans() == ()
    assert tail.buffered_traces() == 0
    assert outgoing["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert outgoing["traceparent"].endswith("-00")


async def test_an_unsampled_failing_request_is_kept_with_its_buffered_children(serving, pipeline):
    exporter, tail = pipeline(0.0)
    async with serving(_service({})) as client:
        response = await client.get("/v1/fail")
    assert response.status_code == 500
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"GET /v1/fail", "lookup"}
    server = spans["GET /v1/fail"]
    assert server.status.status_code is StatusCode.ERROR
    assert server.context.trace_flags.sampled  # promoted, so exporting processors take it
    assert server.parent is None
    assert spans["lookup"].parent is not None
    assert spans["lookup"].parent.span_id == server.context.span_id
    assert tail.buffered_traces() == 0


async def test_spans_outliving_an_unsampled_request_are_dropped_unless_they_fail(serving, pipeline):
    exporter, tail = pipeline(0.0)
    later: list[trace.Span] = []

    service = Service("traced")

    @service.post("/v1/orders")
    async def place() -> dict[str, str]:
        # Like a saga started by the request: spans that end after the answer.
        later.extend(trace.get_tracer("test").start_span(name) for name in ("saga step ok", "saga step fails"))
        return {"status": "accepted"}

    async with serving(service) as client:
        assert (await client.post("/v1/orders")).status_code == 200
    assert tail.buffered_traces() == 0
    ok, fails = later
    ok.end()
    assert tail.buffered_traces() == 0  # not buffered: the trace's request is over
    fails.set_status(StatusCode.ERROR)
    fails.end()
    assert [s.name for s in exporter.get_finished_spans()] == ["saga step fails"]


def test_ids_differ_between_forked_processes():
    """Instances are forked from one zygote: their span ids must not repeat each other's."""
    import os

    from baton.kit.middleware import telemetry

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave without running pytest's teardown
        os.write(write, str(telemetry._getrandbits(64)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = int(os.read(read, 64).decode())
    os.close(read)
    assert child != telemetry._getrandbits(64)


@pytest.fixture
def head_only(monkeypatch):
    """``head_only(ratio)``: the provider ``build_provider`` makes with ``BATON_TRACE_KEEP_ERRORS=0`` (head
    sampling only), made global for this test, its spans going to an in-memory exporter."""
    from baton.telemetry import export

    def build(ratio: float) -> InMemorySpanExporter:
        exporter = InMemorySpanExporter()
        monkeypatch.setattr(export, "exporters_from_env", lambda **_: [exporter])
        monkeypatch.setattr(export, "BatchSpanProcessor", SimpleSpanProcessor)
        from opentelemetry.sdk.resources import Resource

        provider = export.build_provider(Resource.create({}), ratio=ratio, environ={"BATON_TRACE_KEEP_ERRORS": "0"})
        monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
        return exporter

    return build


async def test_head_only_takes_the_light_path_and_exports_sampled_requests(serving, head_only):
    from baton.telemetry.sampling import tail_of

    exporter = head_only(1.0)
    tail = tail_of(trace.get_tracer_provider())
    assert tail is not None
    assert tail.errors is None  # head sampling only: no error tail
    outgoing: dict[str, str] = {}
    async with serving(_service(outgoing)) as client:
        response = await client.get("/v1/items/5", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    assert response.status_code == 200
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"GET /v1/items/{item_id}", "lookup"}
    server = spans["GET /v1/items/{item_id}"]
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert spans["lookup"].parent is not None
    assert spans["lookup"].parent.span_id == server.context.span_id
    assert outgoing["traceparent"] == f"00-{TRACE_ID}-{spans['lookup'].context.span_id:016x}-01"


async def test_head_only_drops_an_unsampled_failure_and_still_propagates_the_trace(serving, head_only):
    exporter = head_only(0.0)
    outgoing: dict[str, str] = {}
    async with serving(_service(outgoing)) as client:
        assert (await client.get("/v1/fail")).status_code == 500
        response = await client.get("/v1/items/5", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})
    assert response.status_code == 200
    assert exporter.get_finished_spans() == ()  # errors are not kept past the head decision in this mode
    assert outgoing["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert outgoing["traceparent"].endswith("-00")


async def test_the_access_line_names_the_server_span_and_the_callers_trace(serving, pipeline):
    import io

    import orjson

    from baton.telemetry.logging import configure_logging, reset_logging

    exporter, _ = pipeline(0.0)
    stream = io.StringIO()
    configure_logging(service="traced", instance="traced-1", stream=stream)
    try:
        async with serving(_service({})) as client:
            response = await client.get(
                "/v1/items/5", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "X-Correlation-ID": "c-1"}
            )
    finally:
        reset_logging()
    assert response.status_code == 200
    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    (access,) = [line for line in lines if line.get("logger") == "baton.access"]
    assert access["trace_id"] == TRACE_ID
    assert access["span_id"] == f"{server.context.span_id:016x}"
    assert (access["route"], access["status"], access["correlation_id"]) == ("/v1/items/{item_id}", 200, "c-1")


@pytest.mark.parametrize("traceparent", [None, f"00-{TRACE_ID}-{PARENT_ID}-01", f"00-{TRACE_ID}-{PARENT_ID}-00"])
async def test_the_handlers_current_span_context_is_the_one_the_public_constructor_makes(
    serving, pipeline, traceparent
):
    """The middleware builds its SpanContext without SpanContext.__new__: it must equal what the constructor
    returns (all six fields, is_valid included), so a change of the API's tuple layout fails here."""
    from opentelemetry.trace import SpanContext

    pipeline(0.1)
    seen: list[SpanContext] = []
    service = Service("traced")

    @service.get("/v1/here")
    async def here() -> dict[str, bool]:
        seen.append(trace.get_current_span().get_span_context())
        return {"ok": True}

    headers = {"traceparent": traceparent} if traceparent else {}
    async with serving(service) as client:
        assert (await client.get("/v1/here", headers=headers)).status_code == 200
    (context,) = seen
    public = SpanContext(context.trace_id, context.span_id, False, context.trace_flags, context.trace_state)
    assert tuple(context) == tuple(public)
    assert context.is_valid
    assert not context.is_remote
    if traceparent:
        assert format(context.trace_id, "032x") == TRACE_ID
        assert context.trace_flags.sampled == traceparent.endswith("-01")


async def test_a_handlers_own_log_lines_carry_the_server_spans_ids(serving, pipeline):
    import io

    import orjson

    from baton.telemetry.logging import configure_logging, get_logger, reset_logging

    exporter, _ = pipeline(0.0)
    service = Service("traced")

    @service.get("/v1/say")
    async def say() -> dict[str, bool]:
        get_logger("traced.handler").info("said")
        return {"ok": True}

    stream = io.StringIO()
    configure_logging(service="traced", instance="traced-1", stream=stream)
    try:
        async with serving(service) as client:
            headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
            assert (await client.get("/v1/say", headers=headers)).status_code == 200
    finally:
        reset_logging()
    (server,) = exporter.get_finished_spans()
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    (said,) = [line for line in lines if line.get("event") == "said"]
    assert (said["trace_id"], said["span_id"]) == (TRACE_ID, f"{server.context.span_id:016x}")
