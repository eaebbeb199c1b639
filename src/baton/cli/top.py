"""``baton top``: a live terminal view of RED per service and route (like ``linkerd viz top``).

It polls the control plane's ``GET /v1/metrics/red`` (rate, 5xx share, p50/p99 over its window, read from the
instances' scraped ``/metrics``) and redraws a table until Ctrl-C. ``--once`` prints one table; ``--json`` prints
the view once, for scripts.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, print_json
from baton.cli.target import Target

_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None], *, width: int = 20) -> str:
    """Unicode block sparkline of the last ``width`` values (gaps as spaces)."""
    tail = values[-width:]
    peak = max((v for v in tail if v is not None), default=0.0)
    if peak <= 0:
        return "".join(" " if v is None else _BLOCKS[0] for v in tail)
    return "".join(" " if v is None else _BLOCKS[min(7, int(v / peak * 7.999))] for v in tail)


def _num(value: float | None, fmt: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{unit}"


def red_table(view: dict[str, Any], *, service: str | None = None, routes: bool = True) -> Table:
    """The RED view as a table: one row per service, then its routes indented."""
    table = Table(header_style="bold", box=None, pad_edge=False, title_justify="left")
    for column in ("SERVICE / ROUTE", "UP", "RPS", "ERRORS", "P50", "P99", "RATE"):
        table.add_column(column, justify="left" if column in ("SERVICE / ROUTE", "RATE") else "right")
    for row in view.get("services", []):
        if service is not None and row["service"] != service:
            continue
        error = row.get("error_ratio")
        table.add_row(
            Text(row["service"], style="bold"),
            f"{row.get('instances_up', 0)}/{row.get('instances', 0)}",
            _num(row.get("rate"), ".1f"),
            Text(_num(None if error is None else error * 100, ".2f", "%"), style="red" if error else ""),
            _num(row.get("p50_ms"), ".1f", "ms"),
            _num(row.get("p99_ms"), ".1f", "ms"),
            Text(sparkline(row["series"]["rate"]), style="cyan"),
        )
        if not routes:
            continue
        for route in row.get("routes", []):
            error = route.get("error_ratio")
            table.add_row(
                f"  {route['route']}",
                "",
                _num(route.get("rate"), ".1f"),
                Text(_num(None if error is None else error * 100, ".2f", "%"), style="red" if error else ""),
                _num(route.get("p50_ms"), ".1f", "ms"),
                _num(route.get("p99_ms"), ".1f", "ms"),
                Text(sparkline(route["series"]["rate"]), style="dim cyan"),
            )
    return table


def _screen(view: dict[str, Any], *, service: str | None, routes: bool) -> RenderableType:
    header = Text.assemble(
        ("baton top", "bold"),
        f"  window {view.get('window_s', 0):g}s · scraped every {view.get('step_s', 0):g}s · ",
        (time.strftime("%H:%M:%S"), "dim"),
        ("  (Ctrl-C to quit)", "dim"),
    )
    return Group(header, red_table(view, service=service, routes=routes))


@command
def top(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 2.0,
    over: Annotated[
        float | None, typer.Option(min=1, help="Seconds the figures cover (default: the daemon's).")
    ] = None,
    routes: Annotated[bool, typer.Option("--routes/--no-routes", help="Show each route under its service.")] = True,
    once: Annotated[bool, typer.Option("--once", help="Print one table and exit.")] = False,
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """Live RED (requests/s, 5xx share, p50, p99) per service and route."""
    client = Target.of(file).client()
    params: dict[str, Any] = {} if over is None else {"over": over}

    def fetch() -> dict[str, Any]:
        view: dict[str, Any] = client.get("/v1/metrics/red", **params)
        return view

    if json:
        print_json(fetch())
        return
    if once:
        console.print(_screen(fetch(), service=service, routes=routes))
        return
    try:
        with Live(_screen(fetch(), service=service, routes=routes), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(_screen(fetch(), service=service, routes=routes), refresh=True)
    except KeyboardInterrupt:
        return
