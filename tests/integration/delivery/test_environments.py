"""``baton up|ps|logs|down --env staging``: staging and production of one ``baton.yaml`` side by side on one
machine, from the main CLI — separate ports, data and NATS, so a greeting stored in staging stays there and its
event never reaches production's streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest
from apps.hello.service import GREETING_CREATED

from baton.control.adoption import find_strays
from baton.control.ports import bindable
from baton.delivery.environments import PRODUCTION, STAGING, Environment, environment
from baton.events.naming import stream_for
from baton.events.server import free_port
from baton.security.operator import OperatorAccess
from baton.testing import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[3]


def free_offset(ports: list[int]) -> int:
    for offset in range(170, 3000, 41):
        if all(bindable("127.0.0.1", p + offset) for p in ports):
            return offset
    raise AssertionError("no free port offset")


def operator(env: Environment) -> OperatorAccess:
    """A leaf of the environment's own CA and its service tokens (instances and NATS require mutual TLS)."""
    return OperatorAccess.for_control(env.control_url, env.home.admin_token() or "")


async def stored_events(env: Environment) -> int:
    """Messages in the hello stream of the environment's NATS server (0 when the stream does not exist)."""
    url = f"nats://127.0.0.1:{env.nats_port}"
    client = await nats.connect(url, connect_timeout=2, tls=operator(env).nats_context())
    try:
        return int((await client.jetstream().stream_info(stream_for(GREETING_CREATED))).state.messages)
    except nats.js.errors.NotFoundError:
        return 0
    finally:
        await client.close()


async def test_staging_runs_beside_production_with_its_own_ports_data_and_nats(tmp_path, monkeypatch) -> None:
    path = tmp_path / "baton.yaml"
    hello = {"module": "apps.hello.service:service", "version": "1.0.0", "cwd": str(REPO), "probes": {"interval": 0.2}}
    path.write_text(json.dumps({"name": "sides", "services": {"hello": hello}}))
    base = next(b for b in range(21000, 32000, 50) if all(bindable("127.0.0.1", b + i) for i in range(4)))
    ports = {"BATON_CONTROL_PORT": free_port(), "BATON_NATS_PORT": free_port(), "BATON_PORT_BASE": base}
    offset = free_offset([*ports.values(), base + 1, base + 2])
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update({k: str(v) for k, v in ports.items()})
    env.update({"BATON_NATS_MONITOR_PORT": "0", "BATON_STAGING_PORT_OFFSET": str(offset)})
    for name, value in env.items():
        if name.startswith("BATON_"):
            monkeypatch.setenv(name, value)

    def baton(*args: str) -> Any:
        argv = [sys.executable, "-m", "baton.cli.main", *args, "--file", str(path), "--json"]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert run.returncode == 0, f"baton {' '.join(args)}: {run.stdout[-2000:]}{run.stderr[-2000:]}"
        return json.loads(run.stdout) if run.stdout.strip().startswith(("{", "[")) else run.stdout

    production, staging = environment(path, PRODUCTION), environment(path, STAGING)
    try:
        await asyncio.to_thread(baton, "up", "--detach")
        await asyncio.to_thread(baton, "up", "--detach", "--env", "staging")
        live = await asyncio.to_thread(baton, "ps")
        beside = await asyncio.to_thread(baton, "ps", "--env", "staging")
        assert [v["service"] for v in live] == [v["service"] for v in beside] == ["hello"]
        assert live[0]["port"] < base + offset <= beside[0]["port"]
        assert all(v["ready"] for v in [*live, *beside])

        # Each environment is its own trust domain too: a leaf of staging's CA for staging, of production's for it.
        async with operator(staging).async_client(timeout=10) as http:
            stored = await http.post(f"{beside[0]['url']}/v1/greetings", json={"name": "staging"})
            assert stored.status_code == 201, stored.text
            assert (await http.get(f"{beside[0]['url']}/v1/greetings")).json()["items"][0]["name"] == "staging"
        async with operator(production).async_client(timeout=10) as http:
            assert (await http.get(f"{live[0]['url']}/v1/greetings")).json()["items"] == []  # other data

        # The event went through staging's outbox to staging's NATS, and nowhere else.
        await wait_until(lambda: stored_events(staging), timeout=20, message="greeting event in staging's NATS")
        assert await stored_events(production) == 0
        assert (staging.home.root / "data").is_dir()
        assert staging.home.root != production.home.root

        lines = await asyncio.to_thread(baton, "logs", "hello", "--env", "staging", "-n", "200")
        assert lines
        assert {line["instance"] for line in lines} == {"hello-1"}
        assert any("/v1/greetings" in json.dumps(line) for line in lines)  # staging's own log files
    finally:
        for args in (("down", "--env", "staging"), ("down",)):
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                await asyncio.to_thread(baton, *args)
        for home in (staging.home.root, production.home.root):
            for record in find_strays(home):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(record.pid, signal.SIGKILL)
