"""The whole shop started through the control plane on free ports in a scratch home (e2e tests, benchmarks).

::

    with ShopSystem(tmp_path, env={"payment": {"PAYMENT_FAILURE_RATE": "0.2"}}) as shop:
        shop.gateway_url            # http://127.0.0.1:<free port>
        shop.urls("order")          # every ready order instance
        shop.kill9("order-1")       # the control plane restarts it
        with shop.client() as http: # instances serve mutual TLS: a client with the operator's certificate,
            http.get(shop.url("inventory") + "/v1/stock/p-espresso")   # and a service token per target

The manifest is ``apps/shop/baton.yaml`` with only what a side-by-side run must change: every port (control
plane, NATS, instances, gateway, SMTP), the data directory, the working directory (the repository root, so
``apps.shop.*`` imports) and the overrides given. The control plane runs as its own process, exactly as
``baton up`` runs it — with mutual TLS between the instances and service tokens on by default, so tests and
benchmarks call instances directly through :meth:`ShopSystem.client` (``operator`` identity, or
``as_service="order"`` for a route only ``order`` may call; see :mod:`baton.security.operator`).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

from baton.control.adoption import find_strays
from baton.control.home import Home
from baton.control.ports import bindable
from baton.errors import ControlError
from baton.events.server import free_port
from baton.security.operator import OPERATOR, OperatorAccess

__all__ = ["MANIFEST", "REPO_ROOT", "ShopSystem"]

REPO_ROOT = Path(__file__).resolve().parents[3]
MANIFEST = REPO_ROOT / "apps" / "shop" / "baton.yaml"


def _port_block(size: int = 50) -> int:
    # Below the kernel's ephemeral range (32768+), where outgoing connections could grab a port first.
    while True:
        base = random.randrange(20000, 32000 - size, 50)
        if all(bindable("127.0.0.1", port) for port in range(base, base + size)):
            return base


def _drop(manifest: dict[str, Any], dropped: set[str]) -> None:
    """Remove services and every reference to them, so the manifest still validates."""
    services = manifest["services"]
    for name in dropped:
        services.pop(name, None)
    for spec in services.values():
        spec["depends_on"] = [d for d in spec.get("depends_on", []) if d not in dropped]
        if spec.get("allow"):
            spec["allow"] = {p: [c for c in callers if c not in dropped] for p, callers in spec["allow"].items()}
    manifest["routes"] = [r for r in manifest.get("routes", []) if r["service"] not in dropped]
    for stream in manifest.get("events", {}).values():
        stream["subscribers"] = [s for s in stream.get("subscribers", []) if s not in dropped]
    manifest["slos"] = [s for s in manifest.get("slos", []) if s["service"] not in dropped]
    manifest["rollouts"] = {k: v for k, v in manifest.get("rollouts", {}).items() if k not in dropped}


class ShopSystem:
    """One running shop: its manifest, home, ports and control-plane process (a context manager)."""

    def __init__(
        self,
        root: Path,
        *,
        env: Mapping[str, Mapping[str, str]] | None = None,
        replicas: Mapping[str, int] | None = None,
        gateway: bool = True,
        without: Collection[str] = (),
        start_timeout: float = 180.0,
    ) -> None:
        """Prepare (not start) a shop in ``root``.

        Args:
            env: extra environment per service (``{"payment": {"PAYMENT_FAILURE_RATE": "0.2"}}``).
            replicas: replica counts per service, overriding the manifest's.
            gateway: run the gateway too.
            without: services to leave out (a lighter system for a benchmark, or one whose service is missing).
            start_timeout: seconds the whole system gets to become ready.
        """
        self.root = root
        self.home = Home(root / ".baton")
        self.manifest_path = root / "baton.yaml"
        self.control_port = free_port()
        self.nats_port = free_port()
        self.port_base = _port_block()
        self.smtp_port = free_port()
        self.gateway_port = free_port() if gateway else None
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.manifest = self._manifest(
            env or {}, replicas or {}, dropped={*without, *(() if gateway else ("gateway",))}
        )
        self.api = httpx.Client(timeout=30)
        self._access: dict[str, OperatorAccess] = {}

    # -- the manifest -------------------------------------------------------------------------------

    def _manifest(
        self, env: Mapping[str, Mapping[str, str]], replicas: Mapping[str, int], *, dropped: set[str]
    ) -> dict[str, Any]:
        manifest: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
        _drop(manifest, dropped)
        services: dict[str, dict[str, Any]] = manifest["services"]
        for name, spec in services.items():
            # Everything starts at once: the services wait for their peers themselves (discovery, retries,
            # the order backfill), and the supervisor's dependency layers would only serialise the start-up.
            spec["depends_on"] = []
            spec["cwd"] = str(REPO_ROOT)
            spec.setdefault("env", {})
            spec["env"].update(env.get(name, {}))
            if name in replicas:
                spec["replicas"] = replicas[name]
        services["mailsink"]["env"]["MAILSINK_SMTP_PORT"] = str(self.smtp_port)
        services["notification"]["env"]["NOTIFICATION_SMTP_PORT"] = str(self.smtp_port)
        if "gateway" in services:
            spec = services["gateway"]
            spec["port"] = self.gateway_port
            argv = list(spec["command"])
            argv[argv.index("--config") + 1] = str(self.manifest_path)
            spec["command"] = argv
        return manifest

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> ShopSystem:
        """Start the control plane and wait until every instance is ready.

        Raises:
            ControlError: the control plane exited, or the system was not ready in time (with the last logs).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.home.root.mkdir(parents=True, exist_ok=True)
        # JSON is YAML, and keeps comments of the original out of a file nobody edits.
        self.manifest_path.write_text(json.dumps(self.manifest, indent=2) + "\n")
        argv = [
            sys.executable,
            "-m",
            "baton.control",
            "-f",
            str(self.manifest_path),
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
        environ = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        with open(self.root / "control.log", "ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=environ, cwd=REPO_ROOT
            )
        self._wait(self._ready, what="every shop instance ready")
        return self

    def _wait(self, condition: Any, *, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not condition():
            if self.process is not None and self.process.poll() is not None:
                raise ControlError(f"the control plane exited: {self._tail(self.root / 'control.log')}")
            if time.monotonic() > deadline:
                raise ControlError(f"not {what} within {self.start_timeout}s; {self._diagnosis()}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            services = self.get("/v1/services")
        except (httpx.HTTPError, ControlError):
            return False
        return all(s["ready"] >= s["replicas"] for s in services)

    def _diagnosis(self) -> str:
        with contextlib.suppress(httpx.HTTPError, ControlError):
            unready = [i for i in self.get("/v1/instances") if not i["ready"]]
            logs = [
                f"{i['id']} ({i['state']}): {self._tail(self.home.root / 'logs' / (i['id'] + '.log'))}" for i in unready
            ]
            return "unready: " + " | ".join(logs)
        return self._tail(self.root / "control.log")

    @staticmethod
    def _tail(path: Path, size: int = 1500) -> str:
        with contextlib.suppress(OSError):
            return path.read_text(errors="replace")[-size:]
        return "(no log)"

    def stop(self) -> None:
        """Stop everything (``baton down``), then make sure no process of this home is left."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError, ControlError):
                self.post("/v1/shutdown")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        for record in find_strays(self.home.root):
            if record.alive():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(record.pid, signal.SIGKILL)
        self.api.close()

    def __enter__(self) -> ShopSystem:
        """Start the shop; a start that fails stops what it had started before the error propagates."""
        try:
            return self.start()
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- the control plane API ------------------------------------------------------------------------

    @property
    def control_url(self) -> str:
        """The control plane's API."""
        return f"http://127.0.0.1:{self.control_port}"

    @property
    def gateway_url(self) -> str:
        """The gateway (the shop's public entry point).

        Raises:
            ControlError: the system runs without a gateway.
        """
        if self.gateway_port is None:
            raise ControlError("this shop runs without a gateway")
        return f"http://127.0.0.1:{self.gateway_port}"

    def _headers(self) -> dict[str, str]:
        token = self.home.admin_token()
        if token is None:
            raise ControlError("the control plane has not written its admin token yet")
        return {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> Any:
        """``GET`` on the control plane API (JSON)."""
        response = self.api.get(self.control_url + path, headers=self._headers())
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any = None) -> Any:
        """``POST`` on the control plane API (JSON)."""
        response = self.api.post(self.control_url + path, json=body, headers=self._headers())
        response.raise_for_status()
        return response.json() if response.content else None

    def instances(self, service: str | None = None) -> list[dict[str, Any]]:
        """The control plane's view of the instances (``GET /v1/instances``), optionally of one service."""
        views: list[dict[str, Any]] = self.get("/v1/instances")
        return [v for v in views if service is None or v["service"] == service]

    def urls(self, service: str) -> list[str]:
        """Base URLs of the ready instances of ``service``."""
        return [str(v["url"]) for v in self.instances(service) if v["ready"]]

    def url(self, service: str) -> str:
        """Base URL of one ready instance of ``service``.

        Raises:
            ControlError: no instance of ``service`` is ready.
        """
        urls = self.urls(service)
        if not urls:
            raise ControlError(f"no ready instance of {service}")
        return urls[0]

    # -- calling instances directly --------------------------------------------------------------------

    def access(self, as_service: str = OPERATOR) -> OperatorAccess:
        """A certificate (from the control plane's CA) and service tokens in the name of ``as_service``."""
        access = self._access.get(as_service)
        if access is None:
            token = self._headers()["Authorization"].removeprefix("Bearer ")
            access = self._access[as_service] = OperatorAccess.for_control(self.control_url, token, service=as_service)
        return access

    def client(self, *, as_service: str = OPERATOR, **options: Any) -> httpx.Client:
        """An ``httpx.Client`` for calling instances: their mutual TLS, and a service token per target service
        (``options`` go to ``httpx.Client``). Plain ``http`` URLs (the gateway) work through it too."""
        return self.access(as_service).client(**options)

    def async_client(self, *, as_service: str = OPERATOR, **options: Any) -> httpx.AsyncClient:
        """Like :meth:`client`, for asyncio code."""
        return self.access(as_service).async_client(**options)

    def nats_tls(self) -> Any:
        """The ``tls=`` for ``nats.connect(shop.nats_url, tls=...)``: NATS requires a Baton certificate."""
        return self.access().nats_context()

    @property
    def nats_url(self) -> str:
        """The embedded NATS server."""
        return f"nats://127.0.0.1:{self.nats_port}"

    def kill9(self, instance_id: str) -> int:
        """``kill -9`` one instance (the control plane will restart it); returns its restart count before."""
        [view] = [v for v in self.instances() if v["id"] == instance_id]
        if view["pid"] is None:
            raise ControlError(f"{instance_id} has no running process")
        os.kill(int(view["pid"]), signal.SIGKILL)
        return int(view["restarts"])
