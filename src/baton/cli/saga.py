"""``baton saga list``, ``baton saga show <id>`` and ``baton saga flow <correlation-id>``, through the control plane.

The control plane asks the services that orchestrate sagas (``GET /v1/sagas``); ``show`` renders the saga's log
as a timeline (:func:`baton.saga.render.render_timeline`): steps, retries, compensations. ``flow`` renders a whole
flow (``GET /v1/flows/{id}``): the sagas carrying the correlation id and the choreography around them — events
produced, published and handled, by service. ``show`` given a correlation id instead of a saga id shows the flow.
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

    client = Target.of(file).client()
    try:
        answer = client.get(f"/v1/sagas/{saga_id}")
    except ControlError as exc:
        if exc.context.get("status") != 404:
            raise
        try:
            flow = client.get(f"/v1/flows/{saga_id}")  # maybe a correlation id
        except ControlError:
            flow = {}
        if not flow.get("items"):
            fail(f"no orchestrating service knows saga '{saga_id}'", hint="list them with `baton saga list`")
        _print_flow(flow, json=json)
        return
    if json:
        print_json(answer)
        return
    console.print(render_timeline(load_history(answer)))
    if answer.get("service"):
        console.print(f"[dim]orchestrated by {answer['service']}[/]")


_KIND_STYLE = {"saga": "cyan", "produced": "green", "published": "blue", "handled": "magenta"}


def flow_table(flow: dict[str, Any]) -> Table:
    """One row per point of the flow, oldest first, with seconds since the first."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("+S", "AT", "SERVICE", "KIND", "WHAT", "DETAIL"):
        table.add_column(column)
    items = flow.get("items", [])
    first = float(items[0]["t"]) if items else 0.0
    for item in items:
        kind = str(item.get("kind", ""))
        table.add_row(
            f"{float(item['t']) - first:.3f}",
            str(item.get("at", ""))[11:23],
            str(item.get("service", "")),
            f"[{_KIND_STYLE.get(kind, 'white')}]{kind}[/]",
            str(item.get("name", "")),
            str(item.get("detail", "")),
        )
    return table


def _print_flow(flow: dict[str, Any], *, json: bool) -> None:
    if json:
        print_json(flow)
        return
    console.print(
        f"[bold]flow {flow.get('correlation_id')}[/]: {', '.join(flow.get('services', [])) or 'nothing found'}"
    )
    if flow.get("items"):
        console.print(flow_table(flow))
    for source, state in flow.get("sources", {}).items():
        if state != "ok":
            console.print(f"[dim]{source}: {state}[/]")


@app.command("flow")
@command
def flow(
    correlation_id: Annotated[str, typer.Argument(help="The flow's correlation id (X-Correlation-ID of the request).")],
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """A flow's timeline by correlation id: its sagas' steps and the events produced, published and handled."""
    answer = Target.of(file).client().get(f"/v1/flows/{correlation_id}")
    _print_flow(answer, json=json)
    if not answer.get("items"):
        raise typer.Exit(1)
