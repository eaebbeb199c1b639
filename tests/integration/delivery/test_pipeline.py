"""``baton pipeline run hello`` end to end: build, unit tests, (no contracts), a real staging environment beside
production, the smoke check through staging's gateway, can-i-deploy, and a blue-green promotion in production."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from baton.control.adoption import find_strays
from baton.control.ports import bindable
from baton.delivery.contracts import ContractStore
from baton.delivery.environments import PRODUCTION, STAGING, down, environment, up
from baton.events.server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]


def manifest(version: str, gateway_port: int, path: Path) -> str:
    return json.dumps(
        {
            "name": "pipe",
            "services": {
                "hello": {
                    "module": "apps.hello.service:service",
                    "version": version,
                    "cwd": str(REPO),
                    "env": {"HELLO_GREETING": f"Hello {version}"},
                    "drain_delay": 0.2,
                    "probes": {"interval": 0.2},
                },
                "gateway": {
                    "command": [
                        "{python}",
                        "-m",
                        "baton.gateway",
                        "--config",
                        str(path),
                        "--no-access-log",
                        "--registry",
                        "nats-kv://baton_instances",
                    ],
                    "port": gateway_port,
                    "version": "1.0.0",
                    "depends_on": ["hello"],
                },
            },
            "routes": [{"prefix": "/hello", "version": "v1", "service": "hello"}],
            "rollouts": {"hello": {"strategy": "blue_green", "keep_warm": "1s", "interval": "1s"}},
        }
    )


def free_offset(ports: list[int]) -> int:
    for offset in range(150, 3000, 37):
        if all(bindable("127.0.0.1", p + offset) for p in ports):
            return offset
    raise AssertionError("no free port offset")


def test_a_pipeline_ships_hello_from_source_to_production(tmp_path, monkeypatch) -> None:
    path = tmp_path / "baton.yaml"
    gateway = free_port()
    base = next(b for b in range(21000, 32000, 50) if all(bindable("127.0.0.1", b + i) for i in range(6)))
    ports = {"BATON_CONTROL_PORT": free_port(), "BATON_NATS_PORT": free_port(), "BATON_PORT_BASE": base}
    offset = free_offset([*ports.values(), base + 1, base + 2, base + 3, gateway])
    for name, value in {**ports, "BATON_NATS_MONITOR_PORT": 0, "BATON_STAGING_PORT_OFFSET": offset}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("BATON_CONTRACTS_DIR", str(tmp_path / "contracts"))
    monkeypatch.delenv("BATON_HOME", raising=False)
    production, staging = environment(path, PRODUCTION), environment(path, STAGING)
    try:
        path.write_text(manifest("1.0.0", gateway, path))
        up(production)  # production already runs 1.0.0
        path.write_text(manifest("1.1.0", gateway, path))

        run = subprocess.run(
            [sys.executable, "-m", "baton.cli.main", "pipeline", "run", "hello", "-f", str(path), "--json"],
            capture_output=True,
            text=True,
            timeout=240,
            env=os.environ.copy(),
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        stages = {r["name"]: r for r in json.loads(run.stdout)}
        assert [s["status"] for s in stages.values()] == [
            "passed", "passed", "skipped", "passed", "passed", "passed", "passed",
        ]  # fmt: skip
        assert "passed" in stages["unit"]["detail"]
        assert "through the gateway: 200" in stages["integration"]["detail"]

        for env, port in ((production, gateway), (staging, gateway + offset)):
            answer = httpx.get(f"http://127.0.0.1:{port}/v1/hello", timeout=5)
            assert answer.json()["message"] == "Hello 1.1.0, world!", env.name
        headers = {"Authorization": f"Bearer {production.home.admin_token()}"}
        rollout = httpx.get(f"{production.control_url}/v1/rollouts/hello", headers=headers, timeout=10).json()
        assert rollout["strategy"] == "blue_green"
        assert rollout["phase"] == "healthy"
        # can-i-deploy recorded what production runs (the gateway too), promote the new hello.
        assert ContractStore(tmp_path / "contracts").deployed(PRODUCTION) == {"hello": "1.1.0", "gateway": "1.0.0"}
        assert ContractStore(tmp_path / "contracts").deployed(STAGING) == {"hello": "1.1.0"}
        assert staging.home.root != production.home.root
        assert (staging.home.root / "data").is_dir()  # its own SQLite files
    finally:
        for env in (staging, production):
            with contextlib.suppress(Exception):
                down(env, timeout=60)
            for record in find_strays(env.home.root):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(record.pid, signal.SIGKILL)
