"""``baton saga list`` and ``baton saga show <id>``: sagas of the running system, through the control plane.

The control plane asks the services that orchestrate sagas (``GET /v1/sagas``); ``show`` renders the saga's log
as a timeline (:func:`baton.saga.render.render_timeline`): steps, retries, compensations.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, fail, print_json
from baton.cli.target import Target
from baton.errors import ControlError

app = typer.Typer(help="Inspect sagas: list them, show one's timeline.", no_args_is_help=True)

_STATUS_STYLE = {
    "running": "cyan",
    "compensating": "yellow",
    "stuck": "bold red",
    "completed": "green",
    "compensated": "magenta",
}
_STATUSES = tuple(_STATUS_STYLE)


def sagas_table(items: list[dict[str, Any]]) -> Table:
    """One row per saga, newest first."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("ID", "SAGA", "STATUS", "SERVICE", "CORRELATION", "CREATED"):
        table.add_column(column)
    for item in items:
        status = str(item.get("status", ""))
        table.add_row(
            str(item["id"]),
            f"{item.get('name', '')} v{item.get('version', '')}",
            f"[{_STATUS_STYLE.get(status, 'white')}]{status}[/]",
            str(item.get("service", "")),
            str(item.get("correlation_id", "")),
            str(item.get("created_at", ""))[:19].replace("T", " "),
        )
    return table


@app.command("list")
@command
def list_sagas(
    status: Annotated[str | None, typer.Option(help=f"Only sagas in this status: {', '.join(_STATUSES)}.")] = None,
    correlation_id: Annotated[str | None, typer.Option("--correlation-id", help="Only this flow.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 50,
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """Sagas of every orchestrating service, newest first."""
    if status is not None and status not in _STATUSES:
        raise typer.BadParameter(f"expected one of {', '.join(_STATUSES)}", param_hint="--status")
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    if correlation_id:
        params["correlation_id"] = correlation_id
    answer = Target.of(file).client().get("/v1/sagas", **params)
    if json:
        print_json(answer)
        return
    items = answer.get("items", [])
    if not items:
        console.print("no sagas")
    else:
        console.print(sagas_table(items))
    unavailable = {s: state for s, state in answer.get("sources", {}).items() if state.startswith("unavailable")}
    for service, state in unavailable.items():
        console.print(f"[yellow]{service}: {state}[/]")


@app.command("show")
@command
def show(
    saga_id: Annotated[str, typer.Argument(help="The saga's id (from `baton saga list`).")],
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """One saga's timeline: every step, retry and compensation, with times since its start."""
    from baton.saga.render import render_timeline
    from baton.saga.replay import load_history

    try:
        answer = Target.of(file).client().get(f"/v1/sagas/{saga_id}")
    except ControlError as exc:
        if exc.context.get("status") == 404:
            fail(f"no orchestrating service knows saga '{saga_id}'", hint="list them with `baton saga list`")
        raise
    if json:
        print_json(answer)
        return
    console.print(render_timeline(load_history(answer)))
    if answer.get("service"):
        console.print(f"[dim]orchestrated by {answer['service']}[/]")
