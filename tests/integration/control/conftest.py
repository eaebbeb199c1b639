"""A real control plane for integration tests: the daemon as a subprocess on free ports with a tmp home."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import psutil
import pytest
from prometheus_client import CollectorRegistry

from baton.control.adoption import find_strays
from baton.control.home import Home
from baton.control.ports import bindable
from baton.control.state import ProcessRecord, StateFile
from baton.discovery.nats_kv import NatsKvRegistry
from baton.events.server import free_port
from baton.security.operator import OperatorAccess
from baton.testing import wait_until

TOYAPP = Path(__file__).with_name("toyapp.py")
BATON = Path(sys.executable).with_name("baton")


def toy_service(replicas: int = 1, **extra: Any) -> dict[str, Any]:
    """A manifest entry running the toy app (drains for 0.3 s on SIGTERM, like the kit)."""
    return {
        "command": ["{python}", str(TOYAPP)],
        "replicas": replicas,
        "drain_delay": 0.3,
        "stop_timeout": 5,
        "probes": {"interval": 0.2, "timeout": 0.5, "failure_threshold": 2},
        **extra,
    }


def manifest_text(name: str, services: dict[str, dict[str, Any]]) -> str:
    """YAML for a manifest (JSON is YAML, and keeps this helper free of a YAML writer)."""
    import json

    return json.dumps({"name": name, "services": services}, indent=2) + "\n"


def port_block() -> int:
    """A random base for instance ports below the kernel's ephemeral range (32768+).

    Ephemeral ports are handed to outgoing connections at any moment, so a base taken from free_port() could
    see its next ports grabbed between allocation and bind.
    """
    while True:
        base = random.randrange(20000, 32000, 50)
        if all(bindable("127.0.0.1", port) for port in range(base, base + 10)):
            return base


class ControlPlane:
    """One system under test: its manifest, home, ports and daemon process."""

    def __init__(self, root: Path, services: dict[str, dict[str, Any]]) -> None:
        self.root = root
        self.manifest = root / "baton.yaml"
        self.manifest.write_text(manifest_text("itest", services))
        self.home = Home(root / ".baton")
        self.control_port = free_port()
        self.port_base = port_block()
        self.nats_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.api = httpx.AsyncClient(timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def env(self) -> dict[str, str]:
        """Environment for CLI invocations (ports of this test's system)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        env.update(
            BATON_CONTROL_PORT=str(self.control_port),
            BATON_PORT_BASE=str(self.port_base),
            BATON_NATS_PORT=str(self.nats_port),
            BATON_NATS_MONITOR_PORT="0",
        )
        return env

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "baton.control",
            "-f",
            str(self.manifest),
            "--home",
            str(self.home.root),
            "--control-port",
            str(self.control_port),
            "--port-base",
            str(self.port_base),
            "--nats-port",
            str(self.nats_port),
            "--nats-monitor-port",
            "0",
        ]

    async def start(self) -> None:
        """Start the daemon and wait until its API answers."""
        self._spawn()
        await wait_until(self._answers, timeout=30, interval=0.05, message="control plane API")

    def _spawn(self) -> None:
        self.home.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "daemon.out", "ab") as out:
            self.process = subprocess.Popen(
                self.argv(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=self.env()
            )

    async def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited: {(self.root / 'daemon.out').read_text()[-2000:]}")
        info = self.home.read_daemon()
        if info is None or info.pid != self.process.pid:
            return False
        with contextlib.suppress(httpx.HTTPError):
            return (await self.get("/v1/system"))["pid"] == self.process.pid
        return False

    def nats_tls(self) -> ssl.SSLContext:
        """The ``tls=`` for NATS: an ``operator`` certificate from the control plane."""
        return OperatorAccess.for_control(self.url, self.home.admin_token() or "").nats_context()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.home.admin_token()}"}

    async def get(self, path: str) -> Any:
        response = await self.api.get(self.url + path, headers=self.headers())
        response.raise_for_status()
        return response.json()

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.api.post(self.url + path, json=body, headers=self.headers())

    async def instances(self, service: str | None = None) -> list[dict[str, Any]]:
        views = await self.get("/v1/instances")
        return [v for v in views if service is None or v["service"] == service]

    async def all_ready(self, count: int) -> bool:
        views = await self.instances()
        return len(views) == count and all(v["ready"] for v in views)

    def kill9(self) -> None:
        """``kill -9`` the daemon."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def recorded(self) -> list[ProcessRecord]:
        """Processes the state file knows (instances and NATS)."""
        state = StateFile(self.home.state_file).load()
        return [r.process for r in state.instances] + ([state.nats] if state.nats else [])

    def instance_processes(self) -> list[psutil.Process]:
        """Every live process started for this home (found by its BATON_HOME)."""
        return [psutil.Process(r.pid) for r in find_strays(self.home.root) if r.alive()]

    async def shutdown(self) -> None:
        """Stop everything; then make sure nothing is left, whatever happened in the test."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                await self.post("/v1/shutdown")
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.process.wait, 30)
        if self.process is not None and self.process.poll() is None:
            self.kill9()
        for record in [*self.recorded(), *find_strays(self.home.root)]:
            if record.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(record.pid, signal.SIGKILL)
        await self.api.aclose()


@pytest.fixture
async def control_plane(tmp_path: Path) -> AsyncIterator[Callable[..., ControlPlane]]:
    """Factory: ``control_plane({"web": toy_service(2)})`` → a started :class:`ControlPlane`."""
    planes: list[ControlPlane] = []

    def make(services: dict[str, dict[str, Any]]) -> ControlPlane:
        plane = ControlPlane(tmp_path, services)
        planes.append(plane)
        return plane

    yield make
    for plane in planes:
        await plane.shutdown()


@pytest.fixture
async def discovery() -> AsyncIterator[Callable[[ControlPlane], Any]]:
    """Factory: ``await discovery(plane)`` → a NATS KV registry as the services' callers see it."""
    connections = []

    async def make(plane: ControlPlane) -> NatsKvRegistry:
        # NATS requires a certificate from the system's CA: the operator's.
        nc = await nats.connect(plane.nats_url, tls=await asyncio.to_thread(plane.nats_tls))
        connections.append(nc)
        return NatsKvRegistry(nc)

    yield make
    for nc in connections:
        await nc.close()


async def ids_in_rotation(registry: NatsKvRegistry, service: str) -> set[str]:
    """Instance ids discovery lists for ``service``."""
    return {i.id for i in await registry.resolve(service)}


class Load:
    """Callers resolving ``service`` through discovery (the client engineer's ServiceClient) in a loop."""

    def __init__(self, registry: NatsKvRegistry, service: str, *, concurrency: int = 4) -> None:
        from baton.client.service_client import ServiceClient

        self.client = ServiceClient(service, registry=registry, metrics_registry=CollectorRegistry())
        self.concurrency = concurrency
        self.ok = 0
        self.failures: list[str] = []
        self.seen: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _worker(self) -> None:
        while not self._stop.is_set():
            try:
                # retry=False: zero failures must come from drain ordering, not from retries hiding them.
                body = await self.client.get_json("/work", timeout=5, retry=False)
                self.ok += 1
                self.seen.add(body["instance"])
            except Exception as exc:
                self.failures.append(repr(exc))
            await asyncio.sleep(0.005)  # a steady trickle, not a benchmark: keep the 2 shared cores usable

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        await self.client.aclose()


@pytest.fixture
def toy() -> Callable[..., dict[str, Any]]:
    """:func:`toy_service`, for tests (importlib mode: test modules cannot import this conftest)."""
    return toy_service


@pytest.fixture
def load() -> type[Load]:
    """:class:`Load`, for tests."""
    return Load


@pytest.fixture
def in_rotation() -> Callable[[NatsKvRegistry, str], Any]:
    """:func:`ids_in_rotation`, for tests."""
    return ids_in_rotation
