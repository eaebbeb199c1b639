"""Rows the trace, saga and flow pages draw: a trace as waterfall bars, a saga as per-step lanes and a log, a flow
as one lane per service with a mark per point."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from baton.telemetry.spans import SpanRecord
from baton.telemetry.waterfall import ordered_tree

__all__ = ["flow_lanes", "saga_lanes", "waterfall_rows"]

_SHOWN_ATTRIBUTES = 12


def waterfall_rows(spans: Sequence[SpanRecord]) -> tuple[list[dict[str, Any]], int]:
    """``(rows, total_ns)``: spans depth-first under their parents, each with its bar's offset and width in
    percent of the trace's extent (at least 0.3% so a 50 µs span stays visible)."""
    if not spans:
        return [], 0
    start = min(s.start_ns for s in spans)
    total = max(1, max(s.end_ns for s in spans) - start)
    rows = []
    for depth, span in ordered_tree(spans):
        left = (span.start_ns - start) / total * 100
        rows.append(
            {
                "depth": depth,
                "span_id": span.span_id,
                "service": span.service,
                "instance": span.instance,
                "name": span.name,
                "kind": span.kind,
                "error": span.error,
                "status_message": span.status_message,
                "offset_ns": span.start_ns - start,
                "duration_ns": span.duration_ns,
                "left": round(min(left, 99.7), 3),
                "width": round(max(0.3, min(100 - left, span.duration_ns / total * 100)), 3),
                "attributes": dict(list(span.attributes.items())[:_SHOWN_ATTRIBUTES]),
                "events": [e.get("name", "") for e in span.events],
            }
        )
    return rows, total


def _at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _detail(entry: Mapping[str, Any]) -> str:
    if entry.get("error"):
        retry_in = (entry.get("payload") or {}).get("retry_in")
        return str(entry["error"]) + (f" (retry in {retry_in:g}s)" if isinstance(retry_in, int | float) else "")
    payload = entry.get("payload") or {}
    if entry["kind"] == "saga_started":
        return f"input {payload.get('input', {})}"
    if entry["kind"] == "step_succeeded" and payload.get("output"):
        return f"output {payload['output']}"
    if "key" in payload:
        return f"key {payload['key']}"
    return ""


def saga_lanes(history: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(lanes, entries)`` of a saga history (``GET /v1/sagas/{id}``).

    A lane per step, in first-seen order: tries, retries, whether it succeeded or failed, and whether it was
    compensated (and how many compensation tries failed). Entries are the log with ``+ms`` since the start and
    a one-line detail.
    """
    raw = list(history.get("entries", []))
    start = _at(raw[0]["at"]) if raw else None
    lanes: dict[str, dict[str, Any]] = {}
    entries = []
    for entry in raw:
        kind = entry["kind"]
        step = entry.get("step")
        offset = (_at(entry["at"]) - start).total_seconds() * 1000 if start else 0.0
        entries.append({**entry, "offset_ms": offset, "detail": _detail(entry)})
        if not step:
            continue
        lane = lanes.setdefault(
            step,
            {
                "step": step,
                "tries": 0,
                "retries": 0,
                "state": "running",
                "compensation": None,
                "compensation_failures": 0,
                "start_ms": offset,
                "end_ms": offset,
            },
        )
        lane["end_ms"] = offset
        if kind == "step_started":
            lane["tries"] += 1
        elif kind == "step_retry":
            lane["retries"] += 1
        elif kind == "step_succeeded":
            lane["state"] = "succeeded"
        elif kind == "step_failed":
            lane["state"] = "failed"
        elif kind == "compensation_started":
            lane["compensation"] = lane["compensation"] or "running"
        elif kind == "compensation_succeeded":
            lane["compensation"] = "done"
        elif kind == "compensation_failed":
            lane["compensation_failures"] += 1
    total = max((e["offset_ms"] for e in entries), default=0.0) or 1.0
    for lane in lanes.values():
        lane["left"] = round(lane["start_ms"] / total * 100, 3)
        lane["width"] = round(max(0.8, (lane["end_ms"] - lane["start_ms"]) / total * 100), 3)
    return list(lanes.values()), entries


def flow_lanes(flow: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(lanes, rows)`` of a flow (``GET /v1/flows/{id}``): one lane per service in order of first appearance,
    each with its points placed in percent of the flow's extent, and the points as table rows (``offset_ms``)."""
    items = list(flow.get("items", []))
    if not items:
        return [], []
    start = min(float(i["t"]) for i in items)
    total = max(1e-6, max(float(i["t"]) for i in items) - start)
    lanes: dict[str, dict[str, Any]] = {}
    rows = []
    for item in items:
        offset = float(item["t"]) - start
        lane = lanes.setdefault(str(item["service"]), {"service": str(item["service"]), "marks": [], "kinds": {}})
        lane["marks"].append(
            {
                "left": round(min(offset / total * 100, 99.5), 3),
                "kind": item["kind"],
                "title": f"{item['kind']} {item['name']} {item.get('detail', '')}".strip(),
            }
        )
        lane["kinds"][item["kind"]] = lane["kinds"].get(item["kind"], 0) + 1
        rows.append({**item, "offset_ms": offset * 1000})
    return list(lanes.values()), rows
