"""``baton ps``: every instance with its pid, port, state, readiness, restarts, uptime and version."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table

from baton.cli.lifecycle import EnvOption, target_for
from baton.cli.render import (
    DEFAULT_MANIFEST,
    JsonOption,
    ManifestOption,
    command,
    console,
    duration,
    err_console,
    print_json,
    state_text,
)
from baton.cli.target import Target
from baton.control.state import StateFile

COLUMNS = ("service", "instance", "pid", "port", "state", "ready", "restarts", "uptime", "version")


def instances_table(views: list[dict[str, Any]], *, title: str | None = None) -> Table:
    """A rich table of instance views (as returned by ``GET /v1/instances``)."""
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for column in COLUMNS:
        table.add_column(column.upper(), justify="right" if column in ("pid", "port", "restarts") else "left")
    for view in views:
        ready = "[green]yes[/]" if view.get("ready") else "[red]no[/]"
        table.add_row(
            view["service"],
            view["id"],
            str(view.get("pid") or "-"),
            str(view.get("port") or "-"),
            state_text(view.get("state", "?")),
            ready,
            str(view.get("restarts", 0)),
            duration(view.get("uptime")),
            view.get("version") or "-",
        )
    return table


def last_known(target: Target) -> list[dict[str, Any]]:
    """Instances from ``state.json`` when no control plane runs (they may still be serving)."""
    views = []
    for record in StateFile(target.home.state_file).load().instances:
        alive = record.process.alive()
        views.append(
            {
                "id": record.id,
                "service": record.service,
                "index": record.index,
                "pid": record.pid if alive else None,
                "port": record.port,
                "url": f"http://127.0.0.1:{record.port}",
                "state": "unsupervised" if alive else "dead",
                "ready": False,
                "restarts": record.restarts,
                "uptime": round(time.time() - record.started_at, 1) if alive and record.started_at else None,
                "version": record.version,
            }
        )
    return views


@command
def ps(file: ManifestOption = DEFAULT_MANIFEST, json: JsonOption = False, env: EnvOption = "production") -> None:
    """List instances: service, instance, pid, port, state, ready, restarts, uptime, version."""
    target = target_for(file, env)
    if target.daemon() is None:
        views = last_known(target)
        if views:
            err_console.print(
                "[yellow]the control plane is not running[/]; showing the last known instances"
                " ([bold]baton up[/] re-adopts them)"
            )
    else:
        views = target.client().get("/v1/instances")
    if json:
        print_json(views)
        return
    if not views:
        console.print("no instances")
        return
    console.print(instances_table(views))
