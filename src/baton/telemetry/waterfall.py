"""Draw a trace as a waterfall in the terminal (``baton trace <id>``).

::

    console.print(waterfall(spans))

    service        operation                          duration  0ms ──────────────────────── 412ms
    gateway        POST /api/orders                    412.0ms  ████████████████████████████████
    order          POST /v1/orders                     398.1ms   ██████████████████████████████
    order            saga checkout                     301.7ms     ███████████████████████
    inventory          POST /v1/reservations            22.4ms     ██
    ...

Spans are nested under their parent (indented) and ordered by start; a span whose parent was not kept (sampling,
the store's bound) is drawn at the top level. Errors are red and marked ``✗``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rich.table import Table
from rich.text import Text

from baton.telemetry.spans import SpanRecord

__all__ = ["format_duration", "ordered_tree", "waterfall"]

_KIND_STYLE = {"server": "cyan", "client": "blue", "producer": "magenta", "consumer": "magenta", "internal": "green"}


def format_duration(ns: int) -> str:
    """``412.0ms``, ``1.25s``, ``850µs``: three significant figures in a readable unit."""
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.2f}s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.1f}ms"
    return f"{ns / 1e3:.0f}µs"


def ordered_tree(spans: Sequence[SpanRecord]) -> Iterator[tuple[int, SpanRecord]]:
    """``(depth, span)`` in depth-first order: each span after its parent, siblings by start time."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.start_ns, s.span_id))
    seen: set[str] = set()
    stack: list[tuple[int, SpanRecord]] = [(0, s) for s in reversed(children.get(None, []))]
    while stack:
        depth, span = stack.pop()
        if span.span_id in seen:  # a malformed trace with a cycle must not loop forever
            continue
        seen.add(span.span_id)
        yield depth, span
        stack.extend((depth + 1, child) for child in reversed(children.get(span.span_id, [])))


def waterfall(spans: Sequence[SpanRecord], *, width: int = 40, title: str | None = None) -> Table:
    """A rich table drawing ``spans`` (one trace) as a waterfall ``width`` characters wide."""
    table = Table(title=title, box=None, pad_edge=False, show_edge=False)
    table.add_column("service", style="bold", no_wrap=True)
    table.add_column("operation", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    if not spans:
        table.add_column("")
        table.add_row("", Text("no spans stored for this trace", style="dim"), "", "")
        return table
    start = min(s.start_ns for s in spans)
    total = max(1, max(s.end_ns for s in spans) - start)
    table.add_column(f"0 ─ {format_duration(total)}", no_wrap=True, min_width=width)
    for depth, span in ordered_tree(spans):
        style = "red" if span.error else _KIND_STYLE.get(span.kind, "green")
        name = Text("  " * depth + span.name + (" ✗" if span.error else ""), style="red" if span.error else "")
        table.add_row(span.service, name, format_duration(span.duration_ns), _bar(span, start, total, width, style))
    return table


def _bar(span: SpanRecord, start: int, total: int, width: int, style: str) -> Text:
    offset = min(width - 1, int((span.start_ns - start) / total * width))
    # At least one cell, so a 50µs span is still visible next to a 2s trace.
    length = max(1, min(width - offset, round(span.duration_ns / total * width)))
    return Text(" " * offset) + Text("█" * length, style=style)
