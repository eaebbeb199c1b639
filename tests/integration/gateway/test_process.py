"""The gateway as its own process: ``python -m baton.gateway``; quotas survive a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import aiohttp
import pytest

from baton.events.server import free_port, port_answers
from baton.testing import wait_until

pytestmark = pytest.mark.integration


def start_gateway(config, port, home):
    env = {**os.environ, "BATON_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "baton.gateway", "--config", str(config), "--port", str(port), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_quota_survives_a_gateway_restart(start_upstream, tmp_path):
    upstream = await start_upstream("a")
    config = tmp_path / "gateway.yaml"
    config.write_text(
        json.dumps(
            {
                "api_keys": [{"consumer": "robot", "key": "k"}],
                "routes": [
                    {
                        "prefix": "/",
                        "backends": [{"urls": [f"http://127.0.0.1:{upstream}"]}],
                        "quota": {"per_day": 3},
                        "auth": {"required": True},
                    }
                ],
            }
        )
    )
    port = free_port()
    statuses = []
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # two gateway lifetimes
            proc = start_gateway(config, port, tmp_path)
            try:
                await wait_until(lambda: port_answers("127.0.0.1", port), timeout=30, message="gateway started")
                for _ in range(2):
                    async with http.get(f"http://127.0.0.1:{port}/v1/echo", headers={"X-API-Key": "k"}) as r:
                        statuses.append(r.status)
            finally:
                stop(proc)
            assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert statuses == [200, 200, 200, 429]
    assert (tmp_path / "gateway" / "quotas.db").exists()


def test_bad_config_exits_with_2(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("routes:\n  - prefix: nope\n")
    result = subprocess.run(
        [sys.executable, "-m", "baton.gateway", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "routes[0].backends: Field required" in result.stderr
