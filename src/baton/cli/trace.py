"""``baton trace <id>``: one trace as a waterfall; ``baton trace --search``: recent traces matching criteria.

Both read the control plane's trace store (``GET /v1/telemetry/traces...``), which every instance exports to.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any

import typer
from rich.table import Table

from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, fail, print_json
from baton.cli.target import Target
from baton.errors import ControlError
from baton.telemetry.slo import parse_duration
from baton.telemetry.spans import SpanRecord
from baton.telemetry.waterfall import format_duration, waterfall

_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_FIELDS = {f.name for f in dataclasses.fields(SpanRecord)}


def span_of(data: dict[str, Any]) -> SpanRecord:
    """A :class:`SpanRecord` from the query API's JSON (extra keys such as ``duration_ns`` ignored)."""
    return SpanRecord(**{key: value for key, value in data.items() if key in _FIELDS})


def traces_table(summaries: list[dict[str, Any]]) -> Table:
    """Search results: one row per trace, newest first."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("TRACE", no_wrap=True, min_width=32)  # ids are copied from here: never cut one
    for column in ("ROOT", "SPANS", "DURATION", "SERVICES"):
        table.add_column(column, justify="right" if column in ("SPANS", "DURATION") else "left")
    for item in summaries:
        root = f"{item['root_service']} {item['root_name']}" + (" [red]✗[/]" if item.get("error") else "")
        table.add_row(
            item["trace_id"],
            root,
            str(item["span_count"]),
            format_duration(int(item["duration_ns"])),
            ", ".join(item.get("services", [])),
        )
    return table


@command
def trace(
    trace_id: Annotated[str | None, typer.Argument(help="32 hex digits (from a log line or a traceparent).")] = None,
    search: Annotated[bool, typer.Option("--search", help="List recent traces instead of drawing one.")] = False,
    service: Annotated[str | None, typer.Option(help="Search: a span of this service.")] = None,
    operation: Annotated[str | None, typer.Option(help="Search: a span with this name, e.g. 'GET /v1/hello'.")] = None,
    min_ms: Annotated[float, typer.Option("--min-ms", min=0, help="Search: a span at least this slow.")] = 0.0,
    errors: Annotated[bool, typer.Option("--errors", help="Search: only traces with a failed span.")] = False,
    lookback: Annotated[str, typer.Option(help="Search: how far back, e.g. 15m, 1h, 1d.")] = "1h",
    limit: Annotated[int, typer.Option(min=1, max=100, help="Search: most traces listed.")] = 20,
    width: Annotated[int, typer.Option(min=10, max=200, help="Width of the waterfall's bars.")] = 40,
    file: ManifestOption = DEFAULT_MANIFEST,
    json: JsonOption = False,
) -> None:
    """Draw a trace as a waterfall, or search recent traces (--search)."""
    if search == (trace_id is not None):
        raise typer.BadParameter("give a trace id, or --search (not both)", param_hint="TRACE_ID")
    if trace_id is not None and not _TRACE_ID.match(trace_id):
        raise typer.BadParameter("a trace id is 32 hexadecimal digits", param_hint="TRACE_ID")
    client = Target.of(file).client()
    if trace_id is None:
        try:
            seconds = parse_duration(lookback, field="--lookback")
        except Exception as exc:  # ConfigError: a usage problem here, not a failure
            raise typer.BadParameter(str(exc), param_hint="--lookback") from None
        params: dict[str, Any] = {"min_duration_ms": min_ms, "lookback_s": seconds, "limit": limit}
        if service:
            params["service"] = service
        if operation:
            params["operation"] = operation
        if errors:
            params["error"] = "true"
        found = client.get("/v1/telemetry/traces", **params)
        if json:
            print_json(found)
        elif not found:
            console.print("no trace matches")
        else:
            console.print(traces_table(found))
        return
    try:
        answer = client.get(f"/v1/telemetry/traces/{trace_id.lower()}")
    except ControlError as exc:
        if exc.context.get("status") == 404:
            fail(f"trace {trace_id} is not stored", hint="it was not sampled, or the store dropped it; try --search")
        raise
    if json:
        print_json(answer)
        return
    spans = [span_of(item) for item in answer["spans"]]
    console.print(waterfall(spans, width=width, title=f"trace {trace_id.lower()}"))
