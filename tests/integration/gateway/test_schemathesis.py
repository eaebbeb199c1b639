"""Property-based API testing (schemathesis) of the example service *through* the gateway: never a 5xx.

Runs ``apps/hello`` as a real process (the kit's ``baton.kit.serve``) and the gateway as another, with a
route carrying authentication, rate limit, validation against the service's own OpenAPI and response
filtering, and lets schemathesis generate valid and invalid requests from the OpenAPI document.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from baton.events.server import free_port, port_answers
from baton.testing import wait_until_sync

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


def spawn(args, env):
    return subprocess.Popen(
        args, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def hello_through_gateway(tmp_path):
    if not (ROOT / "apps" / "hello" / "service.py").exists():
        pytest.skip("apps/hello is not there")
    service_port, gateway_port = free_port(), free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        json.dumps(
            {
                "api_keys": [{"consumer": "fuzzer", "key": "fuzz-key"}],
                "services": {"hello": [f"http://127.0.0.1:{service_port}"]},
                "routes": [
                    {
                        "prefix": "/",
                        "service": "hello",
                        "auth": {"required": False},
                        "rate_limit": {"consumer": "100000/s"},
                        "validation": {"openapi": True, "json_depth": 32},
                        "filter": {"internal_fields": ["internal"]},
                        "timeout": 10,
                    }
                ],
            }
        )
    )
    env = {"BATON_HOME": str(tmp_path / "home"), "BATON_SERVICE": "hello", "PYTHONPATH": str(ROOT)}
    service = spawn(
        [sys.executable, "-m", "baton.kit.serve", "apps.hello.service:service"],
        {**env, "BATON_PORT": str(service_port), "HELLO_MAX_DELAY_MS": "5"},
    )
    try:
        wait_until_sync(lambda: port_answers("127.0.0.1", service_port), timeout=60, message="hello started")
        gateway = spawn(
            [sys.executable, "-m", "baton.gateway", "--config", str(config), "--port", str(gateway_port)],
            {**env, "BATON_LOG_LEVEL": "WARNING"},
        )
        try:
            wait_until_sync(lambda: port_answers("127.0.0.1", gateway_port), timeout=60, message="gateway started")
            yield f"http://127.0.0.1:{gateway_port}"
        finally:
            stop(gateway)
    finally:
        stop(service)


def test_generated_requests_through_the_gateway_never_get_a_5xx(hello_through_gateway):
    base = hello_through_gateway
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the OpenAPI document lists no operations"
    seen: list[tuple[str, int]] = []

    def run(operation):
        @hypothesis.settings(
            max_examples=10,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=base, headers={"X-API-Key": "fuzz-key"}, timeout=15)
            seen.append((operation.label, response.status_code))
            assert response.status_code < 500, f"{operation.label} -> {response.status_code}: {response.text[:300]}"
            assert "Traceback" not in response.text

        check()

    for operation in operations:
        run(operation)
    assert len(seen) >= len(operations)
    assert any(status < 400 for _, status in seen)  # some generated requests are valid and got through
