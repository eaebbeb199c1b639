"""JSON log lines: identity, trace and correlation on every line; stdlib records too; secrets masked."""

from __future__ import annotations

import io
import logging

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider

from baton.telemetry.context import bind_correlation_id
from baton.telemetry.logging import configure_logging, get_logger, reset_logging
from baton.testing.waiting import wait_until


@pytest.fixture
def lines():
    stream = io.StringIO()
    configure_logging(service="catalog", instance="catalog-7", stream=stream, level="DEBUG")
    yield lambda: [orjson.loads(line) for line in stream.getvalue().splitlines()]
    reset_logging()


def test_every_line_carries_identity_trace_and_correlation(lines):
    tracer = TracerProvider().get_tracer("test")
    with bind_correlation_id("corr-1"), tracer.start_as_current_span("work") as span:
        get_logger("catalog.prices").info("price changed", sku="A-1", cents=1299)
        context = span.get_span_context()
    (line,) = lines()
    assert line["event"] == "price changed"
    assert line["level"] == "info"
    assert (line["service"], line["instance"], line["correlation_id"]) == ("catalog", "catalog-7", "corr-1")
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert (line["sku"], line["cents"]) == ("A-1", 1299)
    assert line["timestamp"].endswith("Z")


def test_stdlib_records_are_rendered_the_same_way(lines):
    with bind_correlation_id("corr-2"):
        logging.getLogger("uvicorn.error").warning("port %d busy", 7800)
    (line,) = lines()
    assert (line["event"], line["level"], line["logger"]) == ("port 7800 busy", "warning", "uvicorn.error")
    assert (line["service"], line["correlation_id"]) == ("catalog", "corr-2")
    assert line["trace_id"] is None


def test_secret_looking_keys_are_masked_at_any_depth(lines):
    get_logger().info(
        "connecting",
        password="hunter2",
        config={"db": {"url": "postgres://db", "api_key": "abc"}, "Authorization": "Bearer x"},
        headers=[{"cookie": "session=1"}],
    )
    (line,) = lines()
    assert line["password"] == "***"
    assert line["config"] == {"db": {"url": "postgres://db", "api_key": "***"}, "Authorization": "***"}
    assert line["headers"] == [{"cookie": "***"}]
    assert "hunter2" not in orjson.dumps(line).decode()


def test_levels_below_the_configured_one_are_dropped():
    stream = io.StringIO()
    configure_logging(service="s", instance="s-1", stream=stream, level="WARNING")
    try:
        get_logger().info("quiet")
        get_logger().error("loud")
    finally:
        reset_logging()
    assert [orjson.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["loud"]


async def test_one_access_line_per_request_with_the_required_fields_and_none_for_probes(lines, serving):
    from baton.kit import Service

    service = Service("catalog")

    @service.get("/v1/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    tracer_provider = TracerProvider()
    async with serving(service) as client:
        for path in ("/livez", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200
        with tracer_provider.get_tracer("test").start_as_current_span("caller"):
            response = await client.get("/v1/items/3", headers={"X-Correlation-ID": "corr-9"})
    access = [line for line in lines() if line.get("logger") == "baton.access"]
    assert len(access) == 1, access
    (line,) = access
    assert (line["event"], line["level"], line["method"], line["path"]) == ("request", "info", "GET", "/v1/items/3")
    assert (line["route"], line["status"], line["correlation_id"]) == ("/v1/items/{item_id}", 200, "corr-9")
    assert response.headers["X-Correlation-ID"] == "corr-9"
    assert (line["service"], line["instance"]) == ("catalog", "catalog-7")
    assert line["duration_ms"] >= 0
    assert line["timestamp"].endswith("Z")
    assert len(line["timestamp"]) == 27
    assert "trace_id" in line
    assert "span_id" in line
    assert "client" in line


def test_event_logger_masks_secret_keys_and_honours_levels(lines):
    from baton.telemetry.logging import event_logger

    log = event_logger("baton.access")
    logging.getLogger("baton.access").setLevel(logging.WARNING)
    try:
        log.log(logging.INFO, "dropped", {})
        log.log(logging.WARNING, "kept", {"api_key": "abc", "nested": {"password": "p", "ok": 1}, "n": 2})
    finally:
        logging.getLogger("baton.access").setLevel(logging.NOTSET)
    (line,) = lines()
    assert (line["event"], line["level"], line["logger"]) == ("kept", "warning", "baton.access")
    assert (line["api_key"], line["nested"], line["n"]) == ("***", {"password": "***", "ok": 1}, 2)


def test_event_logger_before_configuration_falls_back_to_structlog(capsys):
    from baton.telemetry.logging import event_logger

    reset_logging()
    event_logger("baton.access").log(logging.INFO, "request", {"status": 200, "token": "t"})
    out = capsys.readouterr().out
    assert "request" in out
    assert "200" in out


class _CountingStream(io.StringIO):
    """A line-buffered stream's worst case: every ``write`` is a system call; count them."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


async def test_access_lines_written_together_leave_in_one_write_in_order_with_other_records():
    from baton.telemetry.logging import event_logger

    stream = _CountingStream()
    configure_logging(service="catalog", instance="catalog-7", stream=stream)
    try:
        log = event_logger("baton.access")
        for n in range(3):
            log.log(logging.INFO, "request", {"n": n}, plain=True)
        await wait_until(lambda: stream.writes, message="the batch was never written")
        assert len(stream.writes) == 1
        assert [orjson.loads(line)["n"] for line in stream.writes[0].splitlines()] == [0, 1, 2]

        # A record through stdlib logging first writes the lines still waiting: the order is kept.
        log.log(logging.INFO, "request", {"n": 3}, plain=True)
        logging.getLogger("catalog").warning("after")
        events = [orjson.loads(line)["event"] for line in stream.getvalue().splitlines()]
        assert events[-2:] == ["request", "after"]
    finally:
        reset_logging()


async def test_lines_held_back_are_written_when_logging_is_reset():
    from baton.telemetry.logging import event_logger

    stream = io.StringIO()
    configure_logging(service="catalog", instance="catalog-7", stream=stream)
    event_logger("baton.access").log(logging.INFO, "held", {}, plain=True)  # in a loop: held for the batch
    reset_logging()  # as at shutdown, before the batch's timer
    assert orjson.loads(stream.getvalue())["event"] == "held"


def test_lines_left_by_a_closed_loop_leave_with_the_next_loops_batch():
    import asyncio

    from baton.telemetry.logging import event_logger

    stream = io.StringIO()
    configure_logging(service="catalog", instance="catalog-7", stream=stream)
    log = event_logger("baton.access")

    async def write(n: int) -> None:
        log.log(logging.INFO, "request", {"n": n}, plain=True)

    async def write_and_wait(n: int) -> None:
        await write(n)
        await wait_until(lambda: stream.getvalue(), message="the batch was never written")

    try:
        asyncio.run(write(1))  # the loop closes before its flush timer fires
        asyncio.run(write_and_wait(2))
        assert [orjson.loads(line)["n"] for line in stream.getvalue().splitlines()] == [1, 2]
    finally:
        reset_logging()


@pytest.mark.parametrize(
    ("path", "route", "client"),
    [
        ("/v1/items/3", "/v1/items/{item_id}", "127.0.0.1"),
        ('/v1/odd "quoted" \\ päth\n', None, None),
    ],
)
def test_request_lines_match_the_event_loggers_lines_field_for_field_in_order(lines, path, route, client):
    from baton.telemetry.logging import event_logger, request_logger

    ids = (0x0AF7651916CD43DD8448EB211C80319C, 0x00AD6B7169203331)
    with bind_correlation_id("corr-5"):
        request_logger("baton.access").request("GET", path, route, 404, 0.0012345, client, ids)
        fields = {"method": "GET", "path": path, "route": route, "status": 404, "duration_ms": 1.235, "client": client}
        event_logger("baton.access").log(logging.INFO, "request", fields, ids=ids, plain=True)
    fast, reference = lines()
    assert len(fast.pop("timestamp")) == len(reference.pop("timestamp")) == 27
    assert list(fast.items()) == list(reference.items())
    assert (fast["trace_id"], fast["span_id"]) == ("0af7651916cd43dd8448eb211c80319c", "00ad6b7169203331")


def test_request_lines_honour_the_level_and_a_reconfigured_identity():
    from baton.telemetry.logging import request_logger

    log = request_logger("baton.access")
    first, second = io.StringIO(), io.StringIO()
    configure_logging(service="catalog", instance="catalog-1", stream=first)
    try:
        log.request("GET", "/v1/a", "/v1/a", 200, 0.001, None, (1, 2))
        configure_logging(service="catalog", instance="catalog-2", stream=second)
        log.request("GET", "/v1/b", "/v1/b", 200, 0.001, None, (1, 2))
        logging.getLogger("baton.access").setLevel(logging.WARNING)
        log.request("GET", "/v1/quiet", "/v1/quiet", 200, 0.001, None, (1, 2))
    finally:
        logging.getLogger("baton.access").setLevel(logging.NOTSET)
        reset_logging()
    assert [orjson.loads(line)["instance"] for line in first.getvalue().splitlines()] == ["catalog-1"]
    assert [orjson.loads(line)["path"] for line in second.getvalue().splitlines()] == ["/v1/b"]


async def test_the_standalone_access_middleware_writes_the_kits_request_line(lines):
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from baton.kit.middleware import AccessLogMiddleware

    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hi")

    app = AccessLogMiddleware(Starlette(routes=[Route("/v1/hello", hello)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        with bind_correlation_id("corr-5"):
            assert (await client.get("/v1/hello")).status_code == 200
        assert (await client.get("/livez")).status_code == 404  # a probe path: answered, not logged

    def access() -> list[dict]:
        return [line for line in lines() if line.get("logger") == "baton.access"]

    await wait_until(access, message="no access line written")
    (line,) = access()
    assert (line["event"], line["method"], line["path"], line["status"]) == ("request", "GET", "/v1/hello", 200)
    assert (line["route"], line["correlation_id"]) == ("/v1/hello", "corr-5")
    assert (line["service"], line["instance"]) == ("catalog", "catalog-7")
    assert line["duration_ms"] >= 0
    assert "client" in line
