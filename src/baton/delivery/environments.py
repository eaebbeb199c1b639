"""Environments side by side on one machine: ``production`` and ``staging`` of the same ``baton.yaml``.

Each environment is a complete system of its own — its own control plane, embedded NATS server (so its streams,
KV buckets and consumers are separate), data directory (SQLite files, logs, contract-free state) and ports:

=============  ==============================  =====================================================
environment    home                            ports
=============  ==============================  =====================================================
production     ``.baton`` (or ``$BATON_HOME``)  the usual ones (``BATON_CONTROL_PORT`` … override them)
staging        ``.baton/envs/staging``          every port + ``BATON_STAGING_PORT_OFFSET`` (1000):
                                               control 8700, instances 8800+, NATS 8722, gateway 8780
=============  ==============================  =====================================================

A non-production environment runs a *derived* manifest written into its home: the same services with fixed ports
shifted by the offset and working directories pinned to the original manifest's folder (so relative paths and
``--config baton.yaml`` still resolve). A service setting named ``*_PORT`` with a number (the shop's mail sink
SMTP port) is shifted too, so both environments can listen at once; other values are copied as they are.

``baton up|down|ps|logs --env staging`` run it from the main CLI; ``baton pipeline`` uses the same functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from baton.control.home import (
    DEFAULT_CONTROL_PORT,
    DEFAULT_NATS_MONITOR_PORT,
    DEFAULT_NATS_PORT,
    DEFAULT_PORT_BASE,
    Home,
    atomic_write,
    resolve_home,
)
from baton.errors import DeliveryError

__all__ = ["PRODUCTION", "STAGING", "Environment", "derive", "down", "environment", "running", "up"]

PRODUCTION = "production"
STAGING = "staging"
DEFAULT_OFFSETS = {PRODUCTION: 0, STAGING: 1000}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise DeliveryError(f"{name} must be an integer, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class Environment:
    """One environment of a system: where it lives and listens, and the manifest it runs."""

    name: str
    source: Path
    """The user's ``baton.yaml``."""
    home: Home
    offset: int
    control_port: int
    port_base: int
    nats_port: int
    nats_monitor_port: int

    @property
    def manifest(self) -> Path:
        """The manifest this environment runs (the user's for production, a derived one otherwise)."""
        return self.source if self.name == PRODUCTION else self.home.root / "baton.yaml"

    @property
    def control_url(self) -> str:
        """Its control plane's API."""
        return f"http://127.0.0.1:{self.control_port}"

    def prepare(self) -> Path:
        """Write the derived manifest (non-production environments) and return the manifest to run.

        Raises:
            DeliveryError: the source manifest cannot be read.
        """
        if self.name == PRODUCTION:
            return self.source
        try:
            document = yaml.safe_load(self.source.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DeliveryError(f"cannot read {self.source}: {exc}") from exc
        derived = derive(document, source_dir=self.source.parent, offset=self.offset)
        self.home.root.mkdir(parents=True, exist_ok=True)
        header = f"# Derived from {self.source} for the {self.name} environment (ports +{self.offset}). Do not edit.\n"
        atomic_write(self.manifest, header + yaml.safe_dump(derived, sort_keys=False))
        return self.manifest


def derive(document: dict[str, Any], *, source_dir: Path, offset: int) -> dict[str, Any]:
    """``document`` with fixed ports (and ``*_PORT`` settings) shifted by ``offset`` and every service's ``cwd``
    pinned to ``source_dir``."""
    out = dict(document)
    services = {}
    for name, spec in (document.get("services") or {}).items():
        spec = dict(spec or {})
        spec["cwd"] = str((source_dir / spec["cwd"]).resolve() if spec.get("cwd") else source_dir.resolve())
        if spec.get("port") is not None:
            spec["port"] = int(spec["port"]) + offset
        if isinstance(spec.get("env"), dict):
            spec["env"] = {key: _shifted(key, value, offset) for key, value in spec["env"].items()}
        services[name] = spec
    out["services"] = services
    return out


def _shifted(key: str, value: Any, offset: int) -> Any:
    """A ``*_PORT`` setting holding a port number, moved by ``offset``; anything else unchanged."""
    if not offset or not str(key).upper().endswith("_PORT"):
        return value
    try:
        port = int(str(value))
    except ValueError:
        return value
    return str(port + offset) if 0 < port < 65536 - offset else value


def environment(manifest: Path, name: str) -> Environment:
    """The environment ``name`` of the system described by ``manifest``.

    Raises:
        DeliveryError: an unknown environment name (without a ``BATON_<NAME>_PORT_OFFSET``).
    """
    source = manifest.resolve()
    variable = f"BATON_{name.upper()}_PORT_OFFSET"
    if name not in DEFAULT_OFFSETS and variable not in os.environ:
        raise DeliveryError(f"unknown environment '{name}' (production, staging, or set {variable})")
    offset = _env_int(variable, DEFAULT_OFFSETS.get(name, 0))
    root = resolve_home(source)
    home = Home(root if name == PRODUCTION else root / "envs" / name)
    monitor = _env_int("BATON_NATS_MONITOR_PORT", DEFAULT_NATS_MONITOR_PORT)
    return Environment(
        name=name,
        source=source,
        home=home,
        offset=offset,
        control_port=_env_int("BATON_CONTROL_PORT", DEFAULT_CONTROL_PORT) + offset,
        port_base=_env_int("BATON_PORT_BASE", DEFAULT_PORT_BASE) + offset,
        nats_port=_env_int("BATON_NATS_PORT", DEFAULT_NATS_PORT) + offset,
        # Monitoring is for the operator's production; other environments do without (one port fewer to clash).
        nats_monitor_port=monitor if name == PRODUCTION else 0,
    )


def running(env: Environment) -> bool:
    """Whether the environment's control plane runs."""
    from baton.control.client import running_daemon

    return running_daemon(env.home) is not None


def up(env: Environment, *, timeout: float = 120.0) -> None:
    """Start the environment's control plane (detached) with its manifest, and wait until every instance is ready.

    Raises:
        DeliveryError: it did not start, or instances did not become ready within ``timeout`` seconds.
    """
    import subprocess
    import sys
    import time

    from baton.control.client import ControlClient, running_daemon

    manifest = env.prepare()
    env.home.logs.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "baton.control", "-f", str(manifest), "--home", str(env.home.root),
        "--control-port", str(env.control_port), "--port-base", str(env.port_base),
        "--nats-port", str(env.nats_port), "--nats-monitor-port", str(env.nats_monitor_port),
        "--environment", env.name,
    ]  # fmt: skip
    with open(env.home.log_file("control"), "ab") as log:
        daemon = subprocess.Popen(
            argv, cwd=env.source.parent, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # the environment outlives the pipeline that started it
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise DeliveryError(f"the {env.name} control plane exited with code {daemon.returncode}; see {log.name}")
        info = running_daemon(env.home)
        client = ControlClient.for_home(env.home) if info is not None and info.pid == daemon.pid else None
        if client is not None:
            try:
                services = client.get("/v1/services") if client.answers() else []
            finally:
                client.close()
            if services and all(s["ready"] >= s["replicas"] for s in services):
                return
        time.sleep(0.2)
    raise DeliveryError(f"the {env.name} environment was not ready within {timeout:g}s; see {env.home.logs}")


def down(env: Environment, *, timeout: float = 120.0) -> int:
    """Stop the environment (every instance, NATS, the control plane); the number of instances stopped."""
    from baton.cli.lifecycle import stop_daemon
    from baton.cli.target import Target

    if not running(env):
        return 0
    return stop_daemon(Target(manifest=env.manifest, home=env.home), timeout=timeout)
