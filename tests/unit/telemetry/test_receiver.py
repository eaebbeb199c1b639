"""The OTLP/HTTP receiver router and the trace query API, through an in-process HTTP client."""

from __future__ import annotations

import gzip

import httpx
import orjson
import pytest
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from baton.telemetry.memory_spans import MemorySpanStore
from baton.telemetry.receiver import telemetry_router

from .otlp_samples import json_payload, protobuf_payload, sdk_spans


@pytest.fixture
async def api():
    store = MemorySpanStore(max_spans=100)
    app = FastAPI()
    app.include_router(telemetry_router(store, max_body_bytes=64 * 1024))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://control") as client:
        yield client, store


async def test_protobuf_export_is_stored_and_answered_in_protobuf(api):
    client, store = api
    spans = sdk_spans()

    response = await client.post(
        "/v1/traces", content=protobuf_payload(spans), headers={"content-type": "application/x-protobuf"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    ExportTraceServiceResponse().ParseFromString(response.content)
    assert len(store) == 2


async def test_gzip_json_export_is_stored(api):
    client, store = api

    response = await client.post(
        "/v1/traces",
        content=gzip.compress(orjson.dumps(json_payload())),
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )

    assert response.status_code == 200
    assert response.json() == {}
    assert len(await store.trace("5b8efff798038103d269b633813fc60c")) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"garbage\xff\xff", {"content-type": "application/x-protobuf"}, 400),
        (b"{", {"content-type": "application/json"}, 400),
        (b"x" * 70_000, {"content-type": "application/x-protobuf"}, 413),
        (gzip.compress(b"\0" * 200_000), {"content-encoding": "gzip"}, 413),
        (b"abc", {"content-encoding": "br"}, 415),
        (b"not gzip", {"content-encoding": "gzip"}, 400),
    ],
)
async def test_bad_exports_are_refused_without_storing(api, body, headers, status):
    client, store = api

    response = await client.post("/v1/traces", content=body, headers=headers)

    assert response.status_code == status
    assert len(store) == 0


async def test_trace_and_search_endpoints(api):
    client, _ = api
    spans = sdk_spans()
    await client.post("/v1/traces", content=protobuf_payload(spans))
    trace_id = format(spans[0].context.trace_id, "032x")

    trace = (await client.get(f"/v1/telemetry/traces/{trace_id.upper()}")).json()
    errors = (await client.get("/v1/telemetry/traces", params={"service": "order", "error": "true"})).json()
    none = (await client.get("/v1/telemetry/traces", params={"min_duration_ms": 60_000})).json()
    missing = await client.get(f"/v1/telemetry/traces/{'0' * 32}")

    assert trace["trace_id"] == trace_id
    assert {s["name"] for s in trace["spans"]} == {"POST /v1/orders", "POST payment"}
    assert all(s["duration_ns"] >= 0 for s in trace["spans"])
    assert [t["trace_id"] for t in errors] == [trace_id]
    assert errors[0]["root_name"] == "POST /v1/orders"
    assert errors[0]["error"] is True
    assert none == []
    assert missing.status_code == 404
