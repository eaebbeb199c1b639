"""``python -m baton.gateway`` exports its spans like a kit instance: to ``BATON_TELEMETRY_URL``.

(The gateway process's entry point is configured the kit's way, so its test lives with the kit's.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web

from baton.events.server import free_port, port_answers
from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


def _start_gateway(config, port, env):
    return subprocess.Popen(
        [sys.executable, "-m", "baton.gateway", "--config", str(config), "--port", str(port), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def _exports_span(body: bytes, *, service: str, trace_id: str) -> bool:
    """Whether an OTLP/JSON export request holds a span of ``trace_id`` from a resource named ``service``."""
    for resource_spans in json.loads(body).get("resourceSpans", []):
        attributes = resource_spans.get("resource", {}).get("attributes", [])
        names = [a["value"].get("stringValue") for a in attributes if a.get("key") == "service.name"]
        spans = [s for scope in resource_spans.get("scopeSpans", []) for s in scope.get("spans", [])]
        if service in names and any(s.get("traceId") == trace_id for s in spans):
            return True
    return False


async def test_a_request_through_the_gateway_reaches_the_telemetry_receiver_as_a_gateway_span(tmp_path):
    exported: list[bytes] = []

    async def receive_traces(request: web.Request) -> web.Response:
        exported.append(await request.read())
        return web.json_response({})

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"traceparent": request.headers.get("traceparent")})

    receiver_app = web.Application()
    receiver_app.router.add_post("/v1/traces", receive_traces)
    upstream_app = web.Application()
    upstream_app.router.add_get("/v1/hello", hello)
    receiver, receiver_port = await _serve(receiver_app)
    upstream, upstream_port = await _serve(upstream_app)
    config = tmp_path / "gateway.yaml"
    config.write_text(
        json.dumps({"routes": [{"prefix": "/", "backends": [{"urls": [f"http://127.0.0.1:{upstream_port}"]}]}]})
    )
    port = free_port()
    env = {
        **os.environ,
        "BATON_HOME": str(tmp_path),
        "BATON_TELEMETRY_URL": f"http://127.0.0.1:{receiver_port}",
        "BATON_TRACE_SAMPLE": "1",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s rather than 5 s
    }
    process = _start_gateway(config, port, env)
    try:
        await wait_until(lambda: port_answers("127.0.0.1", port), timeout=30, message="gateway listening")
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/v1/hello") as response:
            assert response.status == 200
            forwarded = (await response.json())["traceparent"]
        trace_id = forwarded.split("-")[1]
        # Instances export OTLP/JSON to the control plane's receiver: the trace id travels as lower-case hex.
        await wait_until(
            lambda: any(_exports_span(body, service="gateway", trace_id=trace_id) for body in exported),
            timeout=15,
            message="the gateway's span exported to BATON_TELEMETRY_URL",
        )
    finally:
        _stop(process)
        await upstream.cleanup()
        await receiver.cleanup()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
