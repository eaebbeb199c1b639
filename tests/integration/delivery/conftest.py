"""A real system to release into: control plane + embedded NATS + hello (2 replicas) + the gateway, on free ports.

The system is started once per test module (its start-up costs a few CPU-seconds on a shared machine); every test
releases a new version of ``hello`` by rewriting ``baton.yaml``, like an operator would, and leaves ``hello``
healthy on some version for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
import pytest

from baton.control.adoption import find_strays
from baton.control.home import Home
from baton.control.ports import bindable
from baton.events.server import free_port
from baton.testing.waiting import wait_until_sync

REPO = Path(__file__).resolve().parents[3]


def port_block() -> int:
    """A base for instance ports below the ephemeral range, with ten free ports above it."""
    while True:
        base = random.randrange(20000, 32000, 50)
        if all(bindable("127.0.0.1", port) for port in range(base, base + 12)):
            return base


def hello(version: str, *, greeting: str = "Hello", replicas: int = 2, **env: str) -> dict[str, Any]:
    """The manifest entry of one hello version (faults come from ``HELLO_FAULT_*`` in ``env``)."""
    return {
        "module": "apps.hello.service:service",
        "replicas": replicas,
        "version": version,
        "cwd": str(REPO),
        "env": {"HELLO_GREETING": greeting, **env},
        "drain_delay": 0.3,
        "stop_timeout": 5,
        "probes": {"interval": 0.2, "timeout": 1.0},
    }


class ReleaseSystem:
    """The system under test and its control plane's API."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / "baton.yaml"
        self.home = Home(root / ".baton")
        self.control_port = free_port()
        self.gateway_port = free_port()
        self.nats_port = free_port()
        self.port_base = port_block()
        self.process: subprocess.Popen[bytes] | None = None
        self.hello = hello("1.0.0")
        self.rollout: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def write(self, hello_spec: dict[str, Any] | None = None, **rollout: Any) -> None:
        """Write ``baton.yaml`` with ``hello_spec`` and the ``rollouts.hello`` entry ``rollout``."""
        if hello_spec is not None:
            self.hello = hello_spec
        if rollout:
            self.rollout = rollout
        document = {
            "name": "release",
            "services": {
                "hello": self.hello,
                "gateway": {
                    "command": [
                        "{python}", "-m", "baton.gateway", "--config", str(self.manifest),
                        "--registry", "nats-kv://baton_instances", "--no-access-log",
                    ],
                    "port": self.gateway_port,
                    "version": "1.0.0",
                    "depends_on": ["hello"],
                },
            },
            "routes": [{"prefix": "/hello", "version": "v1", "service": "hello", "timeout": "5s"}],
            "slos": [{"name": "hello-availability", "service": "hello", "objective": 99.0, "route": "/v1/hello"}],
            "rollouts": {"hello": self.rollout} if self.rollout else {},
        }  # fmt: skip
        self.manifest.write_text(json.dumps(document, indent=2))

    def start(self) -> None:
        self.write()
        self.launch()
        wait_until_sync(self._ready, timeout=60, interval=0.1, message="system ready")

    def kill9(self) -> None:
        """``kill -9`` the control plane (instances, NATS and the gateway keep running)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart(self) -> None:
        """Start a control plane again on the same home and ports; return once its API answers."""
        self.launch()

        def answers() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError((self.root / "daemon.out").read_text()[-3000:])
            try:
                return httpx.get(self.url + "/v1/rollouts", headers=self.headers(), timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until_sync(answers, timeout=60, interval=0.1, message="control plane answers")

    def launch(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        env["BATON_SCRAPE_INTERVAL"] = "5"
        argv = [
            sys.executable, "-m", "baton.control", "-f", str(self.manifest), "--home", str(self.home.root),
            "--control-port", str(self.control_port), "--port-base", str(self.port_base),
            "--nats-port", str(self.nats_port), "--nats-monitor-port", "0",
        ]  # fmt: skip
        self.home.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "daemon.out", "ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=self.root
            )

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError((self.root / "daemon.out").read_text()[-3000:])
        try:
            views = self.get("/v1/instances")
            answer = httpx.get(f"{self.gateway}/v1/hello", timeout=2)
        except (httpx.HTTPError, AssertionError):
            return False
        return len(views) == 3 and all(v["ready"] for v in views) and answer.status_code == 200

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.home.admin_token()}"}

    def get(self, path: str) -> Any:
        response = httpx.get(self.url + path, headers=self.headers(), timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=self.headers(), timeout=60)

    def page(self, path: str) -> str:
        response = httpx.get(self.url + path, headers=self.headers(), timeout=30)
        assert response.status_code == 200, response.text
        return response.text

    def rollout_status(self) -> dict[str, Any]:
        return self.get("/v1/rollouts/hello")

    def versions(self) -> Counter[str]:
        """Versions of the hello instances running now."""
        return Counter(v["version"] for v in self.get("/v1/instances") if v["service"] == "hello")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                self.post("/v1/shutdown")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
            if self.process.poll() is None:
                self.process.kill()
        for record in find_strays(self.home.root):
            if record.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(record.pid, signal.SIGKILL)
        # The broker outlives a killed control plane on purpose; after a failed test nothing may own it any more.
        home = str(self.home.root)
        for proc in psutil.process_iter(["name", "cmdline"]):
            if proc.info["name"] == "nats-server" and any(home in part for part in proc.info["cmdline"] or ()):
                with contextlib.suppress(psutil.Error):
                    proc.kill()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReleaseSystem]:
    """The running system (module scope)."""
    plane = ReleaseSystem(tmp_path_factory.mktemp("release"))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@dataclass
class Traffic:
    """Requests sent through the gateway: when, what status, which greeting answered."""

    samples: list[tuple[float, int, str]] = field(default_factory=list)

    def failed(self) -> list[tuple[float, int, str]]:
        return [s for s in self.samples if s[1] >= 500 or s[1] == 0]

    def by_greeting(self) -> Counter[str]:
        return Counter(s[2] for s in self.samples)


class Load:
    """Clients calling ``GET /v1/hello`` through the gateway in a loop, at a steady, modest rate."""

    def __init__(self, url: str, *, concurrency: int = 4, pause: float = 0.01, headers: dict[str, str] | None = None):
        self.url = url
        self.concurrency = concurrency
        self.pause = pause
        self.headers = headers or {}
        self.traffic = Traffic()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def _worker(self) -> None:
        assert self._session is not None
        while not self._stop.is_set():
            at = time.time()
            try:
                async with self._session.get(self.url, headers=self.headers) as response:
                    body = await response.json(content_type=None)
                    greeting = str(body.get("message", "")).split(",")[0] if response.status == 200 else ""
                    self.traffic.samples.append((at, response.status, greeting))
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.traffic.samples.append((at, 0, type(exc).__name__))
            await asyncio.sleep(self.pause)

    async def __aenter__(self) -> Load:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        assert self._session is not None
        await self._session.close()


@pytest.fixture
def load() -> type[Load]:
    """:class:`Load`, for tests."""
    return Load


@pytest.fixture
def hello_spec() -> Any:
    """:func:`hello`, for tests."""
    return hello
