"""Run kit services as real processes in tests: ``python -m baton.kit.serve <module:attr>`` on a free port.

::

    def test_something(launch_service, nats_url):
        catalog = launch_service("apps.shop.catalog.service:service", service="catalog",
                                 env={"BATON_NATS_URL": nats_url})
        httpx.get(f"{catalog.url}/v1/products")
        catalog.kill()            # kill -9
        catalog = launch_service.restart(catalog)  # same port, same home

The launcher waits until ``/readyz`` answers 200 (a deadline, not a sleep) and, at the end of the test, stops
what is still running: SIGTERM first so the kit drains, SIGKILL after a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from baton.events.server import free_port
from baton.testing.waiting import wait_until_sync

__all__ = ["ServiceLauncher", "ServiceProcess"]

# Variables a test must not inherit from the developer's shell: they would point the instance elsewhere.
_INHERITED_PREFIXES = ("BATON_", "OTEL_")


@dataclass
class ServiceProcess:
    """One running service instance."""

    target: str
    service: str
    port: int
    env: dict[str, str]
    log_path: Path
    cwd: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def log(self) -> str:
        """Everything the instance printed so far."""
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def kill(self) -> None:
        """``kill -9`` the instance and reap it."""
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (graceful: the kit drains), SIGKILL after ``timeout``; return the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return int(self.process.returncode)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until ``/readyz`` answers 200.

        Raises:
            AssertionError: the process exited (its log is in the message) or the deadline passed.
        """

        def ready() -> bool:
            assert self.alive(), f"{self.service} exited with {self.process.returncode}:\n{self.log()[-4000:]}"
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until_sync(ready, timeout=timeout, message=f"{self.service} ready on port {self.port}")


class ServiceLauncher:
    """Starts service processes for one test and stops them all at the end (the ``launch_service`` fixture)."""

    def __init__(self, workdir: Path, *, cwd: Path | None = None) -> None:
        self.workdir = workdir
        self.cwd = cwd or Path.cwd()
        self.started: list[ServiceProcess] = []

    def __call__(
        self,
        target: str,
        *,
        service: str,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        home: Path | None = None,
        ready: bool = True,
        ready_timeout: float = 30.0,
    ) -> ServiceProcess:
        """Start ``target`` (``module:attr``) as instance ``<service>-<port>``; wait until ready unless told not to."""
        port = port or free_port()
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
        child_env.update(
            BATON_SERVICE=service,
            BATON_INSTANCE=f"{service}-{port}",
            BATON_PORT=str(port),
            BATON_HOME=str(home or self.workdir / "home"),
        )
        child_env.update(env or {})
        instance = ServiceProcess(
            target=target,
            service=service,
            port=port,
            env=child_env,
            log_path=self.workdir / f"{service}-{port}.log",
            cwd=self.cwd,
            process=self._spawn(target, child_env, self.workdir / f"{service}-{port}.log"),
        )
        self.started.append(instance)
        if ready:
            instance.wait_ready(ready_timeout)
        return instance

    def restart(self, instance: ServiceProcess, *, ready: bool = True, ready_timeout: float = 30.0) -> ServiceProcess:
        """Start ``instance`` again (same port, environment and home) after it stopped or was killed."""
        if instance.alive():
            instance.stop()
        again = ServiceProcess(
            target=instance.target,
            service=instance.service,
            port=instance.port,
            env=instance.env,
            log_path=instance.log_path,
            cwd=instance.cwd,
            process=self._spawn(instance.target, instance.env, instance.log_path),
        )
        self.started.append(again)
        if ready:
            again.wait_ready(ready_timeout)
        return again

    def stop_all(self) -> None:
        """Stop every instance this launcher started (graceful first)."""
        for instance in reversed(self.started):
            instance.stop()
        self.started.clear()

    def _spawn(self, target: str, env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "baton.kit.serve", target],
                cwd=self.cwd,
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
