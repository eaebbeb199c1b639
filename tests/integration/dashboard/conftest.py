"""A real observed system for the dashboard and SLO tests, shared by the module's tests (start-up costs seconds).

``hello`` (one instance, fixed port) sits behind a :class:`FaultProxy`; ``relay`` (two replicas) calls hello
through that proxy. The daemon runs with a fast observation loop (``BATON_SCRAPE_INTERVAL=0.25``) and SLO time
running 2,000× faster (``BATON_SLO_TIME_SCALE=0.0005``: the 1 h / 5 min page rule becomes 1.8 s / 0.15 s), so a
latency breach fires and clears within seconds. Everything here is synchronous (threads, subprocesses) so the
module-scoped fixture can serve sync Playwright tests too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.control.adoption import find_strays
from baton.control.home import Home
from baton.control.ports import bindable
from baton.events.server import free_port
from baton.security.operator import OperatorAccess
from baton.testing import wait_until_sync
from baton.testing.faultproxy import FaultProxy

HERE = Path(__file__).parent
REPO = HERE.parents[2]
ARTIFACTS = REPO / "test-artifacts" / "dashboard"


class WebhookSink:
    """An HTTP server in a thread that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                sink.received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ProxyThread:
    """A :class:`FaultProxy` running on its own event loop in a thread, steerable from sync tests."""

    def __init__(self, upstream_port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxy = FaultProxy("127.0.0.1", upstream_port, port=free_port())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.up(), self.loop).result(10)

    def latency(self, seconds: float) -> None:
        self.loop.call_soon_threadsafe(self.proxy.latency, seconds)

    def clear(self) -> None:
        self.loop.call_soon_threadsafe(self.proxy.clear)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.aclose(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _port_block() -> int:
    while True:
        base = random.randrange(20000, 32000, 50)
        if all(bindable("127.0.0.1", port) for port in range(base, base + 10)):
            return base


class ObservedSystem:
    """The daemon process, its ports, and a client of its API."""

    def __init__(self, root: Path, *, hook: str, proxy_url: str, hello_port: int) -> None:
        self.root = root
        self.home = Home(root / ".baton")
        self.control_port = free_port()
        self.nats_port = free_port()
        self.port_base = _port_block()
        self.manifest = root / "baton.yaml"
        probes = {"interval": 0.3, "timeout": 1.0}
        manifest = {
            "name": "observed",
            "services": {
                "hello": {
                    "module": "apps.hello.service:service",
                    "cwd": str(REPO),
                    "port": hello_port,
                    "version": "1.0.0",
                    "probes": probes,
                },
                "relay": {
                    "module": "relay_app:service",
                    "cwd": str(HERE),
                    "replicas": 2,
                    "version": "2.1.0",
                    "depends_on": ["hello"],
                    "env": {"RELAY_UPSTREAM": proxy_url},
                    "probes": probes,
                },
            },
            "slos": [
                {
                    "name": "relay-latency",
                    "service": "relay",
                    "route": "/v1/relay",
                    "sli": "latency",
                    "threshold": "250ms",
                    "objective": 95,
                    "runbook": "https://runbooks.example/relay-latency",
                },
                {"name": "relay-availability", "service": "relay", "objective": 99.9},
            ],
            "alerting": {"webhook": hook},
        }
        self.manifest.write_text(json.dumps(manifest, indent=2))
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(timeout=30)
        self._access: OperatorAccess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def token(self) -> str:
        return self.home.admin_token() or ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        env.update(
            BATON_SCRAPE_INTERVAL="0.25",
            BATON_SLO_TIME_SCALE="0.0005",
            BATON_RED_WINDOW="10",
        )
        argv = [sys.executable, "-m", "baton.control", "-f", str(self.manifest), "--home", str(self.home.root)]
        argv += ["--control-port", str(self.control_port), "--port-base", str(self.port_base)]
        argv += ["--nats-port", str(self.nats_port), "--nats-monitor-port", "0"]
        self.home.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "daemon.out", "ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        wait_until_sync(self._ready, timeout=60, interval=0.1, message="observed system never became ready")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"daemon exited: {(self.root / 'daemon.out').read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            views = self.get("/v1/instances")
            return len(views) == 3 and all(v["ready"] for v in views)
        return False

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(self.url + path, params=params, headers={"Authorization": f"Bearer {self.token()}"})
        response.raise_for_status()
        return response.json()

    def client(self, **options: Any) -> httpx.Client:
        """A client for calling instances directly: they serve mutual TLS and want a service token."""
        if self._access is None:
            self._access = OperatorAccess.for_control(self.url, self.token())
        return self._access.client(**options)

    def instance_urls(self, service: str) -> list[str]:
        return [v["url"] for v in self.get("/v1/instances") if v["service"] == service]

    def shutdown(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                self.http.post(self.url + "/v1/shutdown", headers={"Authorization": f"Bearer {self.token()}"})
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        for record in find_strays(self.home.root):
            if record.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(record.pid, signal.SIGKILL)
        self.http.close()


class Traffic:
    """Threads calling ``/v1/relay`` on every relay instance in turn, each ~20 requests per second when fast
    (several, so that slow answers under a fault still make a steady stream)."""

    def __init__(self, urls: list[str], *, client: Callable[..., httpx.Client], threads: int = 3) -> None:
        self.urls = urls
        self.client = client
        self.ok = 0
        self.failed = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, offset: int) -> None:
        with self.client(timeout=10) as http:
            i = offset
            while not self._stop.is_set():
                try:
                    response = http.get(self.urls[i % len(self.urls)] + "/v1/relay")
                    if response.status_code == 200:
                        self.ok += 1
                    else:
                        self.failed += 1
                except httpx.HTTPError:
                    self.failed += 1
                i += 1
                self._stop.wait(0.05)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ObservedSystem, ProxyThread, WebhookSink]]:
    """The running system, the fault proxy in front of hello, and the webhook sink."""
    root = tmp_path_factory.mktemp("observed")
    hello_port = free_port()
    sink = WebhookSink()
    proxy = ProxyThread(hello_port)
    # A TCP proxy: relay's mutual TLS to hello passes through it, so relay calls it over https.
    upstream = proxy.proxy.url.replace("http://", "https://", 1)
    system = ObservedSystem(root, hook=sink.url, proxy_url=upstream, hello_port=hello_port)
    try:
        system.start()
        yield system, proxy, sink
    finally:
        system.shutdown()
        proxy.close()
        sink.close()


@pytest.fixture
def traffic(observed: tuple[ObservedSystem, ProxyThread, WebhookSink]) -> Callable[..., Traffic]:
    """:class:`Traffic` calling with the observed system's operator certificate, for tests."""
    return functools.partial(Traffic, client=observed[0].client)
