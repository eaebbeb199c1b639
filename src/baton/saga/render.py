"""Terminal rendering of saga histories and flow timelines (``baton saga show <id>``).

The CLI fetches the history (``GET /v1/sagas/{id}`` from the service hosting the orchestrator, then
:func:`baton.saga.replay.load_history`, or ``SqlSagaStore(engine).history(id)`` on a local database) and
prints ``render_timeline(history)`` with a ``rich.console.Console``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from baton.saga.choreography import FlowEvent
from baton.saga.records import EntryKind, LogEntry, SagaHistory, SagaStatus

_STATUS_STYLE = {
    SagaStatus.RUNNING: "cyan",
    SagaStatus.COMPENSATING: "yellow",
    SagaStatus.STUCK: "bold red",
    SagaStatus.COMPLETED: "green",
    SagaStatus.COMPENSATED: "magenta",
}

_KIND_STYLE = {
    EntryKind.STEP_SUCCEEDED: "green",
    EntryKind.COMPENSATION_SUCCEEDED: "magenta",
    EntryKind.STEP_RETRY: "yellow",
    EntryKind.COMPENSATION_FAILED: "yellow",
    EntryKind.STEP_FAILED: "red",
    EntryKind.SAGA_STUCK: "bold red",
    EntryKind.SAGA_COMPLETED: "bold green",
    EntryKind.SAGA_COMPENSATED: "bold magenta",
}


def render_timeline(history: SagaHistory) -> RenderableType:
    """A header (saga, status, correlation id) and one row per log entry, with time since the start."""
    saga = history.saga
    header = Text.assemble(
        ("saga ", "bold"),
        (saga.id, "bold"),
        f"  {saga.name} v{saga.version}  ",
        (saga.status.value, _STATUS_STYLE[saga.status]),
        f"  correlation {saga.correlation_id}",
    )
    table = Table(show_edge=False, pad_edge=False, expand=False)
    for column, justify in (("#", "right"), ("+ms", "right"), ("event", "left"), ("step", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("try", justify="right")
    table.add_column("detail", overflow="fold")
    start = history.entries[0].at if history.entries else saga.created_at
    for entry in history.entries:
        table.add_row(
            str(entry.seq),
            f"{(entry.at - start).total_seconds() * 1000:.0f}",
            Text(entry.kind.value, style=_KIND_STYLE.get(entry.kind, "")),
            entry.step or "",
            str(entry.attempt) if entry.attempt else "",
            _detail(entry),
        )
    return Group(header, table)


def render_flow(correlation_id: str, events: Sequence[FlowEvent]) -> RenderableType:
    """One row per event (and saga log entry) of a choreographed flow, oldest first."""
    table = Table(title=f"flow {correlation_id}", show_edge=False, pad_edge=False)
    table.add_column("+ms", justify="right")
    table.add_column("type")
    table.add_column("source")
    table.add_column("summary", overflow="fold")
    start = events[0].at if events else None
    for event in events:
        offset = (event.at - start).total_seconds() * 1000 if start else 0.0
        summary = ", ".join(f"{key}={value}" for key, value in event.summary.items())
        table.add_row(f"{offset:.0f}", event.type, event.source, summary)
    return table


def _detail(entry: LogEntry) -> str:
    payload = entry.payload
    if entry.error:
        retry_in = payload.get("retry_in")
        return entry.error + (f"  (retry in {retry_in:g}s)" if isinstance(retry_in, int | float) else "")
    if entry.kind is EntryKind.SAGA_STARTED:
        return f"input {payload.get('input', {})}"
    if entry.kind is EntryKind.STEP_SUCCEEDED and payload.get("output"):
        return f"output {payload['output']}"
    if "key" in payload:
        return f"key {payload['key']}" + ("  (resumed)" if payload.get("resumed") else "")
    return ""
