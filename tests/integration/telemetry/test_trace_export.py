"""Spans travel over real OTLP/HTTP from an SDK pipeline built by ``build_provider`` to the control plane's
receiver, and come back through the query API; head sampling drops healthy traces, errors are kept."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanKind, Status, StatusCode

from baton.telemetry.export import build_provider
from baton.telemetry.receiver import telemetry_router
from baton.telemetry.sqlite_spans import SqliteSpanStore, default_span_db
from baton.testing import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def control(serve_asgi, tmp_path):
    store = SqliteSpanStore(default_span_db(tmp_path / ".baton"), max_spans=1000)
    app = FastAPI()
    app.include_router(telemetry_router(store))
    async with serve_asgi(app) as url:
        yield url, store
    await store.aclose()


def checkout(tracer, *, fail: bool) -> str:
    with tracer.start_as_current_span("POST /v1/checkout", kind=SpanKind.SERVER) as server:
        with tracer.start_as_current_span("reserve", kind=SpanKind.CLIENT):
            pass
        with tracer.start_as_current_span("charge", kind=SpanKind.CLIENT) as charge:
            if fail:
                charge.set_status(Status(StatusCode.ERROR, "card declined"))
                server.set_status(Status(StatusCode.ERROR))
    return format(server.get_span_context().trace_id, "032x")


async def test_at_zero_sampling_only_the_failing_trace_reaches_the_receiver(control):
    url, store = control
    provider = build_provider(
        Resource.create({"service.name": "order", "service.instance.id": "order-1"}),
        ratio=0.0,
        environ={"BATON_TELEMETRY_URL": url},
    )
    tracer = provider.get_tracer("test")
    try:
        healthy = [checkout(tracer, fail=False) for _ in range(5)]
        failing = checkout(tracer, fail=True)
        # The exporter posts from its own thread, synchronously; the receiver runs in this loop.
        await asyncio.to_thread(provider.force_flush)
    finally:
        await asyncio.to_thread(provider.shutdown)

    spans = await wait_until(lambda: store.trace(failing), message="failing trace not received")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/v1/telemetry/traces", params={"service": "order", "error": "true"}) as response:
            found = await response.json()
        async with http.get(f"{url}/v1/telemetry/traces/{failing}") as response:
            whole = await response.json()

    assert sorted(s.name for s in spans) == ["POST /v1/checkout", "charge", "reserve"]
    assert {s.instance for s in spans} == {"order-1"}
    assert [t["trace_id"] for t in found] == [failing]
    assert found[0]["root_name"] == "POST /v1/checkout"
    assert len(whole["spans"]) == 3
    assert [await store.trace(t) for t in healthy] == [[]] * 5
    assert await store.count() == 3


async def test_at_full_sampling_every_trace_arrives(control):
    url, store = control
    provider = build_provider(
        Resource.create({"service.name": "catalog"}), ratio=1.0, environ={"BATON_TELEMETRY_URL": url}
    )
    tracer = provider.get_tracer("test")
    try:
        ids = [checkout(tracer, fail=False) for _ in range(4)]
        await asyncio.to_thread(provider.force_flush)
    finally:
        await asyncio.to_thread(provider.shutdown)

    await wait_until(lambda: store.count(), message="no span arrived")
    assert [len(await store.trace(t)) for t in ids] == [3, 3, 3, 3]
