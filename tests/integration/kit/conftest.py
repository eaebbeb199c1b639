"""Fixtures for the kit's integration tests: the hello service as a real ``python -m baton.kit.serve`` process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from baton.events.server import free_port
from baton.testing import wait_until_sync

REPO = Path(__file__).resolve().parents[3]
# ``apps`` is importable from the repository root (``python -m baton.kit.serve apps.hello.service:service``
# runs there); pytest's importlib mode does not put the root on sys.path for tests outside ``apps/``.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass
class ServiceProcess:
    """A running service instance and where to reach it."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_lines(self) -> list[str]:
        """What the instance wrote on stdout so far."""
        return self.log_path.read_text().splitlines()


@pytest.fixture
def start_hello(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """``start_hello(**env)`` runs the hello service on a free port with its own BATON_HOME until ready."""
    started: list[ServiceProcess] = []

    def start(**extra_env: str) -> ServiceProcess:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "HELLO_", "OTEL_"))}
        env.update(
            BATON_SERVICE="hello",
            BATON_INSTANCE=f"hello-{port}",
            BATON_PORT=str(port),
            BATON_HOME=str(tmp_path / "home"),
            BATON_SHUTDOWN_GRACE="10",
            **extra_env,
        )
        log_path = tmp_path / f"hello-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "baton.kit.serve", "apps.hello.service:service"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        instance = ServiceProcess(process, f"http://127.0.0.1:{port}", log_path)
        started.append(instance)

        def ready() -> bool:
            assert process.poll() is None, f"service exited early:\n{log_path.read_text()}"
            try:
                return httpx.get(f"{instance.base_url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until_sync(ready, timeout=30, message="hello ready")
        return instance

    yield start
    for instance in started:
        if instance.process.poll() is None:
            instance.process.kill()
            instance.process.wait(timeout=10)
