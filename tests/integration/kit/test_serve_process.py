"""The hello service as a real process: probes, docs, metrics, JSON logs and graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import signal

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from baton.testing import wait_until

pytestmark = pytest.mark.integration


def _active_requests(metrics_text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "http_server_active_requests"
    )


async def test_probes_docs_metrics_and_json_logs(start_hello):
    hello = start_hello()
    async with httpx.AsyncClient(base_url=hello.base_url) as client:
        live = await client.get("/livez")
        ready = await client.get("/readyz?verbose")
        docs = await client.get("/docs")
        openapi = (await client.get("/openapi.json")).json()
        created = await client.post(
            "/v1/greetings",
            json={"name": "Ada"},
            headers={"Idempotency-Key": "it-1", "X-Correlation-ID": "it-corr-1"},
        )
        metrics = await client.get("/metrics")
    assert live.json() == {"status": "alive"}
    assert [c["name"] for c in ready.json()["checks"]] == ["shutting_down", "db", "maintenance"]
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert {"/v1/greetings", "/v1/hello"} <= set(openapi["paths"])
    assert created.status_code == 201
    assert created.headers["X-Correlation-ID"] == "it-corr-1"
    assert (
        'http_server_request_duration_seconds_count{http_request_method="POST",'
        'http_response_status_code="201",http_route="/v1/greetings",service="hello"} 1.0'
    ) in metrics.text

    def request_logged() -> list[dict[str, object]]:
        lines = [orjson.loads(line) for line in hello.log_lines() if line.startswith("{")]
        return [line for line in lines if line.get("correlation_id") == "it-corr-1"]

    (line,) = await wait_until(request_logged, message="access log line")
    assert (line["service"], line["instance"], line["route"], line["status"]) == (
        "hello",
        f"hello-{hello.base_url.rsplit(':', 1)[1]}",
        "/v1/greetings",
        201,
    )
    assert len(line["trace_id"]) == 32


async def test_sigterm_flips_readiness_then_drains_in_flight_requests_and_exits_0(start_hello):
    hello = start_hello(BATON_DRAIN_DELAY="1")
    async with httpx.AsyncClient(base_url=hello.base_url, timeout=20) as slow_client:
        slow = asyncio.create_task(slow_client.get("/v1/hello", params={"name": "drain", "delay_ms": 2500}))
        async with httpx.AsyncClient(base_url=hello.base_url, timeout=2) as probe:

            async def slow_request_in_flight() -> bool:
                return _active_requests((await probe.get("/metrics")).text) == 1

            await wait_until(slow_request_in_flight, message="slow request in flight")
            hello.process.send_signal(signal.SIGTERM)

            async def not_ready() -> bool:
                return (await probe.get("/readyz")).status_code == 503

            await wait_until(not_ready, timeout=5, message="/readyz answers 503 after SIGTERM")
            assert hello.process.poll() is None  # still draining: readiness flipped before the exit
        response = await slow
    assert response.status_code == 200
    assert response.json() == {"message": "Hello, drain!"}
    assert await asyncio.to_thread(hello.process.wait, 15) == 0
    events = [orjson.loads(line).get("event") for line in hello.log_lines() if line.startswith("{")]
    assert events.index("shutdown requested") < events.index("draining") < events.index("instance stopped")
