"""``baton up`` and ``baton down``: bring the whole system up with a live progress table, and stop it all."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from baton.cli.lifecycle import EnvOption, start_in, stop_daemon, stop_unsupervised, target_for
from baton.cli.logs import follow, render
from baton.cli.render import (
    DEFAULT_MANIFEST,
    JsonOption,
    ManifestOption,
    command,
    console,
    err_console,
    fail,
    print_json,
)
from baton.cli.status import instances_table
from baton.cli.target import Target
from baton.control.client import ControlClient
from baton.control.logtail import tail_lines
from baton.control.manifest import load_manifest
from baton.control.state import StateFile

POLL = 0.05
"""Seconds between progress polls of the API while waiting for readiness (two small GETs on a local socket): the
user waits for the last instance, and a slower poll adds up to its length to every ``baton up``."""


@command
def up(
    file: ManifestOption = DEFAULT_MANIFEST,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Return once everything is ready.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every instance to be ready.")] = 60.0,
    json: JsonOption = False,
    env: EnvOption = "production",
) -> None:
    """Start the control plane (if needed) and every service; wait until all are ready; print the URLs."""
    manifest = load_manifest(file)  # a bad manifest stops here, before anything starts
    target = target_for(file, env)
    started = time.monotonic()
    if target.daemon() is None:
        start_in(file, env)
    client = target.client()
    try:
        failure = wait_until_ready(client, timeout=timeout, show=not json)
        system = client.get("/v1/system")
        instances = client.get("/v1/instances")
    finally:
        client.close()
    if json:
        print_json({"ready": failure is None, "system": system, "instances": instances})
    if failure is not None:
        if not json:
            _explain(target, failure)
        fail(f"{manifest.name} is not ready: {failure['id']} is {failure['state']}", hint=_hint(failure))
    if not json:
        console.print(f"[bold green]✓[/] {manifest.name} ready in {time.monotonic() - started:.1f}s")
        print_urls(system)
    if detach:
        return
    console.print("[dim]following logs — Ctrl-C stops the system[/]")
    try:
        for line in follow(target, []):
            console.print(render(line), soft_wrap=True)
    except KeyboardInterrupt:
        console.print("\n[dim]stopping…[/]")
        stopped = stop_daemon(target, timeout=120.0)
        console.print(f"[bold]stopped[/] {stopped} instance(s)")


@command
def down(
    file: ManifestOption = DEFAULT_MANIFEST,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a graceful stop.")] = 120.0,
    json: JsonOption = False,
    env: EnvOption = "production",
) -> None:
    """Stop every instance gracefully (drain, SIGTERM, SIGKILL after a timeout), NATS, then the control plane."""
    target = target_for(file, env)
    before = [record.process for record in StateFile(target.home.state_file).load().instances]
    if target.daemon() is not None:
        stopped = stop_daemon(target, timeout=timeout)
        how = "control plane"
    else:
        stopped = stop_unsupervised(target)
        how = "state file (no control plane was running)"
    still = [record.pid for record in before if record.alive()]
    if json:
        print_json({"stopped": stopped, "via": how, "leftover_pids": still})
    elif stopped or before:
        console.print(f"[bold]stopped[/] {stopped} instance(s) via the {how}")
    else:
        console.print("nothing was running")
    if still:
        fail(f"processes still running after down: {', '.join(map(str, still))}")


def wait_until_ready(client: ControlClient, *, timeout: float, show: bool) -> dict[str, Any] | None:
    """Poll until every wanted replica is ready; the first crash-looping (or late) instance otherwise."""
    deadline = time.monotonic() + timeout
    with Live(console=err_console, transient=False, auto_refresh=False) as live:
        while True:
            services = client.get("/v1/services")
            instances = client.get("/v1/instances")
            if show:
                live.update(_progress(services, instances), refresh=True)
            if all(s["ready"] >= s["replicas"] for s in services) and all(
                v["ready"] for v in instances if v["state"] not in ("stopping", "stopped")
            ):
                return None
            looping = [v for v in instances if v["state"] == "crashloop"]
            if looping:
                return dict(looping[0])
            if time.monotonic() > deadline:
                late = [v for v in instances if not v["ready"]]
                return dict(late[0]) if late else {"id": "?", "state": "not ready"}
            time.sleep(POLL)


def _progress(services: list[dict[str, Any]], instances: list[dict[str, Any]]) -> Group:
    wanted = sum(s["replicas"] for s in services)
    ready = sum(1 for v in instances if v["ready"])
    header = Text.from_markup(f"[bold]starting[/] {ready}/{wanted} instances ready")
    return Group(header, instances_table(instances))


def print_urls(system: dict[str, Any]) -> None:
    """The addresses a user wants after ``up``."""
    urls = system["urls"]
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("control plane", f"{urls['control']}  [dim](token in {system['home']}/admin-token)[/]")
    table.add_row("dashboard", urls["dashboard"])
    if urls.get("gateway"):
        table.add_row("gateway", urls["gateway"])
    nats = urls.get("nats") or "-"
    if urls.get("nats_monitor"):
        nats += f"  [dim](monitoring {urls['nats_monitor']})[/]"
    table.add_row("nats", nats)
    for service, docs in sorted(urls.get("services", {}).items()):
        table.add_row(service, docs)
    console.print(table)
    if any(str(docs).startswith("https://") for docs in urls.get("services", {}).values()):
        console.print(
            "[dim]instances serve mutual TLS: `baton cert operator` exports a certificate to open their /docs[/]"
        )


def _explain(target: Target, failure: dict[str, Any]) -> None:
    lines = tail_lines(target.home.log_file(failure["id"]), 15)
    if not err_console.is_terminal:
        err_console.line()  # the progress table's last frame ends without a newline off a terminal
    err_console.print(f"[bold red]{failure['id']}[/] {failure['state']} — {failure.get('reason') or ''}")
    for line in lines:
        err_console.print(Text("  " + line, style="dim"), soft_wrap=True)


def _hint(failure: dict[str, Any]) -> str:
    return f"see `baton logs {failure['id']}`; the system is left running for inspection, `baton down` stops it"
