"""Starting and stopping the control plane daemon from the CLI (no rendering here; ``system`` shows it).

``--env`` (``up``, ``down``, ``ps``, ``logs``): ``production`` is the system as ``baton.yaml`` describes it;
``staging`` (or any ``BATON_<NAME>_PORT_OFFSET`` environment) is a second, complete copy beside it — its own
control plane, NATS server, data directory and ports (:mod:`baton.delivery.environments`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from baton.cli.target import Target
from baton.control.client import ControlClient
from baton.control.home import (
    DEFAULT_CONTROL_PORT,
    DEFAULT_NATS_MONITOR_PORT,
    DEFAULT_NATS_PORT,
    DEFAULT_PORT_BASE,
    DaemonInfo,
)
from baton.control.logtail import tail_lines
from baton.control.process import InstanceProcess
from baton.control.state import ProcessRecord, StateFile, SupervisorState
from baton.errors import ControlError

PRODUCTION = "production"

EnvOption = Annotated[
    str,
    typer.Option(
        "--env",
        help="The environment: production, or staging beside it (own control plane, NATS, data and ports + offset).",
        envvar="BATON_ENV",
    ),
]


def target_for(manifest: Path, env: str = PRODUCTION) -> Target:
    """The system ``manifest`` describes, in environment ``env`` (its home and the manifest it runs).

    Raises:
        DeliveryError: an unknown environment.
    """
    if env == PRODUCTION:
        return Target.of(manifest)
    from baton.delivery.environments import environment

    found = environment(manifest, env)
    return Target(manifest=found.manifest, home=found.home)


def start_in(manifest: Path, env: str = PRODUCTION, *, timeout: float = 30.0) -> DaemonInfo:
    """Start the daemon of environment ``env``; a non-production one runs its derived manifest on offset ports.

    Raises:
        ControlError: it did not start.  DeliveryError: an unknown environment.
    """
    if env == PRODUCTION:
        return start_daemon(Target.of(manifest), Ports.from_env(), timeout=timeout)
    from baton.delivery.environments import environment

    found = environment(manifest, env)
    found.prepare()
    ports = Ports(
        control=found.control_port, base=found.port_base, nats=found.nats_port, nats_monitor=found.nats_monitor_port
    )
    target = Target(manifest=found.manifest, home=found.home)
    return start_daemon(target, ports, timeout=timeout, environment=found.name)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True, slots=True)
class Ports:
    """Ports of a new daemon; ``BATON_*_PORT`` variables override the conventional ones."""

    control: int = DEFAULT_CONTROL_PORT
    base: int = DEFAULT_PORT_BASE
    nats: int = DEFAULT_NATS_PORT
    nats_monitor: int = DEFAULT_NATS_MONITOR_PORT
    """0 disables NATS monitoring."""

    @classmethod
    def from_env(cls) -> Ports:
        """Ports from ``BATON_CONTROL_PORT``, ``BATON_PORT_BASE``, ``BATON_NATS_PORT``, ``BATON_NATS_MONITOR_PORT``."""
        return cls(
            control=_env_int("BATON_CONTROL_PORT", DEFAULT_CONTROL_PORT),
            base=_env_int("BATON_PORT_BASE", DEFAULT_PORT_BASE),
            nats=_env_int("BATON_NATS_PORT", DEFAULT_NATS_PORT),
            nats_monitor=_env_int("BATON_NATS_MONITOR_PORT", DEFAULT_NATS_MONITOR_PORT),
        )


def start_daemon(target: Target, ports: Ports, *, timeout: float = 30.0, environment: str | None = None) -> DaemonInfo:
    """Start the daemon detached (own session, output to ``logs/control.log``) and wait until its API answers.

    Raises:
        ControlError: it exited or did not answer within ``timeout`` (the message quotes its last log lines).
    """
    home = target.home
    home.logs.mkdir(parents=True, exist_ok=True)
    manifest = target.manifest.resolve()
    argv = [
        sys.executable,
        "-m",
        "baton.control",
        "-f",
        str(manifest),
        "--home",
        str(home.root),
        "--control-port",
        str(ports.control),
        "--port-base",
        str(ports.base),
        "--nats-port",
        str(ports.nats),
        "--nats-monitor-port",
        str(ports.nats_monitor),
        *(["--environment", environment] if environment else []),
    ]
    log_path = home.log_file("control")
    with open(log_path, "ab") as log:
        daemon = subprocess.Popen(
            argv,
            cwd=manifest.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the daemon must outlive this CLI and ignore the terminal's Ctrl-C
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise ControlError(f"the control plane exited with code {daemon.returncode}:\n" + _last(log_path))
        info = target.daemon()
        if info is not None and info.pid == daemon.pid:
            client = ControlClient.for_home(home)
            if client is not None and client.answers():
                client.close()
                return info
        time.sleep(0.05)
    raise ControlError(f"the control plane did not answer within {timeout:g}s:\n" + _last(log_path))


def stop_daemon(target: Target, *, timeout: float) -> int:
    """Ask the running daemon to stop everything and wait until it is gone; the number of instances stopped.

    Raises:
        ControlError: it did not finish within ``timeout`` seconds.
    """
    info = target.daemon()
    if info is None:
        return 0
    client = target.client(timeout=timeout)
    try:
        answer = client.post("/v1/shutdown", timeout=timeout)
    finally:
        client.close()
    record = ProcessRecord(info.pid, info.create_time)
    deadline = time.monotonic() + 15.0
    while record.alive():
        if time.monotonic() > deadline:
            raise ControlError(f"the control plane (pid {info.pid}) did not exit after stopping the system")
        time.sleep(0.05)
    return int(answer.get("stopped", 0))


def stop_unsupervised(target: Target, *, timeout: float = 10.0) -> int:
    """Without a daemon: stop what ``state.json`` (and a stray sweep) says still runs; the count stopped."""
    state_file = StateFile(target.home.state_file)
    state = state_file.load()
    processes = [InstanceProcess.adopt(record.process) for record in state.instances]
    alive = [p for p in processes if p is not None]

    # Imported here: adoption pulls in discovery (and the kit), which every other command can do without.
    from baton.control.adoption import kill_strays

    async def stop_all() -> int:
        await asyncio.gather(*(p.stop(timeout) for p in alive))
        strays = await kill_strays(target.home.root)
        if state.nats is not None:
            nats = InstanceProcess.adopt(state.nats)
            if nats is not None:
                await nats.stop(timeout)
        return len(alive) + len(strays)

    stopped = asyncio.run(stop_all())
    state_file.save(SupervisorState())
    return stopped


def leftovers(target: Target, records: list[ProcessRecord]) -> list[int]:
    """Pids among ``records`` that still run (should be none after ``down``)."""
    return [record.pid for record in records if record.alive()]


def _last(path: Path, count: int = 15) -> str:
    return "\n".join(tail_lines(Path(path), count)) or "(no output)"
