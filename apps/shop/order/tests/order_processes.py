"""Real service processes for the order service's integration tests (``python -m baton.kit.serve``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from baton.events.server import free_port
from baton.testing import wait_until

REPO = Path(__file__).resolve().parents[4]


@dataclass
class Instance:
    """One running instance and how to start it again."""

    name: str
    module: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Processes:
    """Starts, kills (-9) and restarts instances sharing one NATS server and one data directory."""

    home: Path
    nats_url: str
    instances: dict[str, Instance] = field(default_factory=dict)

    def prepare(self, name: str, **env: str) -> Instance:
        """Reserve a port for ``name`` (so peers can be told where it is before it starts)."""
        port = free_port()
        self.home.mkdir(parents=True, exist_ok=True)
        instance = Instance(name, f"apps.shop.{name}.service:service", port, env, self.home / f"{name}-{port}.log")
        self.instances[name] = instance
        return instance

    def service_urls(self, *names: str) -> str:
        return json.dumps({name: self.instances[name].url for name in names})

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        """Start (or restart, same instance id and port) ``name``; see :meth:`start` to wait until it is ready."""
        instance = self.instances[name]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "OTEL_", "ORDER_", "PAYMENT_"))}
        env.update(
            BATON_SERVICE=name,
            BATON_INSTANCE=f"{name}-1",
            BATON_PORT=str(instance.port),
            BATON_HOME=str(self.home),
            BATON_NATS_URL=self.nats_url,
            BATON_SHUTDOWN_GRACE="2",
            **instance.env,
        )
        with instance.log_path.open("ab") as log:
            instance.process = subprocess.Popen(
                [sys.executable, "-m", "baton.kit.serve", instance.module],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return instance.process

    async def start(self, name: str) -> Instance:
        """Start (or restart) ``name`` and wait until it is ready."""
        instance = self.instances[name]
        process = self.spawn(name)

        async def ready() -> bool:
            assert process.poll() is None, f"{name} exited early:\n{instance.log_path.read_text()[-4000:]}"
            try:
                async with httpx.AsyncClient(timeout=1) as http:
                    return (await http.get(f"{instance.url}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(ready, timeout=45, interval=0.1, message=f"{name} ready")
        return instance

    def kill9(self, name: str) -> None:
        """``kill -9`` the instance: no drain, no goodbye."""
        process = self.instances[name].process
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for instance in self.instances.values():
            if instance.process is not None and instance.process.poll() is None:
                instance.process.kill()
                instance.process.wait(timeout=10)
