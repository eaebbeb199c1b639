"""An Argo-Rollouts-like page of the rollouts: versions, weight, steps, the latest analysis and the timeline.

Served at ``/ui/rollouts`` by :mod:`baton.control.api_rollouts`, styled by the dashboard's stylesheet. Plain HTML
from the same status views the API returns; no script is needed (the page refreshes itself every 2 s while a
rollout is in progress).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

__all__ = ["rollouts_page"]

_PHASE_STYLE = {
    "progressing": "#2f6fde",
    "paused": "#b7791f",
    "switched": "#6b46c1",
    "healthy": "#2f855a",
    "rolled_back": "#c53030",
    "aborted": "#718096",
}


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{float(value) * 100:.2f}%"
    if kind == "ms":
        return f"{float(value) * 1000:.0f} ms"
    if kind == "x":
        return f"{float(value):.1f}×"
    return escape(str(value))


def _check_kind(name: str) -> str:
    return "pct" if name == "error_rate" else "ms" if name == "p99" else "x"


_VERDICT_MARK = {"pass": "✓", "fail": "✗", "inconclusive": "…"}
_VERDICT_COLOUR = {"pass": "#2f855a", "fail": "#c53030", "inconclusive": "#b7791f"}


def _runs_by_step(view: Mapping[str, Any]) -> dict[int, list[Mapping[str, Any]]]:
    """The analyses of each step, told apart by the times the steps began (from the timeline)."""
    starts = sorted((e["at"], e["step"]) for e in view.get("events") or [] if e["kind"] in ("step", "switched"))
    found: dict[int, list[Mapping[str, Any]]] = {}
    for run in view.get("runs") or []:
        step = None
        for at, index in starts:
            if at <= run["at"]:
                step = index
        if step is not None:
            found.setdefault(int(step), []).append(run)
    return found


def _run_mark(run: Mapping[str, Any]) -> str:
    failed = " — " + ", ".join(run["failed"]) if run["failed"] else ""
    title = (
        f"{run['verdict']}: {run['requests']:.0f} req, {_fmt(run['error_rate'], 'pct')} 5xx, "
        f"p99 {_fmt(run['p99'], 'ms')}{failed}"
    )
    mark = _VERDICT_MARK.get(run["verdict"], "?")
    colour = _VERDICT_COLOUR.get(run["verdict"], "#4a5568")
    return f'<span class="run" style="color:{colour}" title="{escape(title)}">{mark}</span>'


def _step_results(runs: list[Mapping[str, Any]]) -> str:
    if not runs:
        return ""
    counts = {v: sum(1 for r in runs if r["verdict"] == v) for v in ("pass", "fail", "inconclusive")}
    summary = " ".join(f"{_VERDICT_MARK[v]}{n}" for v, n in counts.items() if n)
    marks = "".join(_run_mark(r) for r in runs[-20:])
    return f' <span class="muted">{len(runs)} analyses: {summary}</span> <span class="runs">{marks}</span>'


def _steps(view: Mapping[str, Any]) -> str:
    cells = []
    done = view["phase"] == "healthy"
    runs = _runs_by_step(view)
    for i, weight in enumerate(view.get("steps") or []):
        if done or i < view["step"]:
            mark, cls = "✓", "done"
        elif i == view["step"] and view["phase"] in ("progressing", "paused", "switched"):
            mark, cls = "▶", "current"
        elif view["phase"] in ("rolled_back", "aborted") and i == view["step"]:
            mark, cls = "✗", "failed"
        else:
            mark, cls = "·", "pending"
        cells.append(
            f'<li class="step {cls}">{mark} setWeight {weight}% · analyse{_step_results(runs.get(i, []))}</li>'
        )
    return f'<ol class="steps">{"".join(cells)}</ol>'


def _analysis(view: Mapping[str, Any]) -> str:
    analysis = view.get("analysis")
    if not analysis:
        return "<p class='muted'>no analysis yet</p>"
    rows = []
    for check in analysis["checks"]:
        kind = _check_kind(check["name"])
        ok = check["ok"]
        status = "✓ pass" if ok else "✗ fail" if ok is False else "… n/a"
        rows.append(
            f"<tr><td>{escape(check['name'])}</td><td>{_fmt(check['value'], kind)}</td>"
            f"<td>{_fmt(check['threshold'], kind)}</td><td>{status}</td></tr>"
        )
    canary, stable = analysis["canary"], analysis["stable"]
    return (
        f"<p>verdict <b>{escape(analysis['verdict'])}</b> over {analysis['window']:.0f}s · "
        f"new: {canary['requests']:.0f} req, {_fmt(canary['error_rate'], 'pct')} 5xx, p99 {_fmt(canary['p99'], 'ms')}"
        f" · stable: {stable['requests']:.0f} req, {_fmt(stable['error_rate'], 'pct')} 5xx, "
        f"p99 {_fmt(stable['p99'], 'ms')}</p>"
        "<table><thead><tr><th>check</th><th>value</th><th>threshold</th><th>result</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _timeline(events: Iterable[Mapping[str, Any]]) -> str:
    items = [
        f"<li><span class='muted'>{time.strftime('%H:%M:%S', time.localtime(e['at']))}</span> "
        f"<b>{escape(e['kind'])}</b> {escape(e['message'])} <span class='muted'>({e['weight']}%)</span></li>"
        for e in list(events)[-30:]
    ]
    return f"<ul class='timeline'>{''.join(reversed(items))}</ul>"


def _card(view: Mapping[str, Any]) -> str:
    colour = _PHASE_STYLE.get(view["phase"], "#4a5568")
    weight = int(view["weight"])
    instances = view.get("instances") or {}
    stable_ids = ", ".join(i["id"] for i in instances.get("stable", [])) or "–"
    new_ids = ", ".join(i["id"] for i in instances.get("new", [])) or "–"
    return f"""
<section class="card rollout">
  <h2>{escape(view["service"])} <small>{escape(view["strategy"])}</small>
      <span class="badge" style="background:{colour};color:#fff">{escape(view["phase"])}</span></h2>
  <p>{escape(view["stable_version"])} (stable: {escape(stable_ids)}) → <b>{escape(view["new_version"])}</b>
     (new: {escape(new_ids)})</p>
  <div class="weight" title="traffic on the new version"
       style="background:#e2e8f0;border-radius:4px;height:14px;width:100%">
    <div style="background:{colour};height:14px;border-radius:4px;width:{weight}%"></div></div>
  <p>{weight}% of traffic on {escape(view["new_version"])} · {escape(view["message"])}</p>
  <h3>Steps</h3>{_steps(view)}
  <h3>Analysis</h3>{_analysis(view)}
  <h3>Timeline</h3>{_timeline(view.get("events") or [])}
</section>"""


def rollouts_page(views: list[dict[str, Any]], *, system: str = "baton") -> str:
    """The whole page for ``views`` (from :meth:`RolloutManager.status`)."""
    live = any(v["phase"] in ("progressing", "paused", "switched") for v in views)
    refresh = '<meta http-equiv="refresh" content="2">' if live else ""
    body = "".join(_card(v) for v in views) or "<p>No rollout yet. Start one with <code>baton rollout start</code>.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">{refresh}
<title>Rollouts · {escape(system)} · Baton</title>
<link rel="stylesheet" href="/ui/static/style.css"></head>
<body><header class="top"><a class="brand" href="/"><span class="logo">◆</span> Baton
<span class="system">{escape(system)}</span></a><nav><a href="/">Overview</a>
<a href="/ui/rollouts" class="active">Rollouts</a></nav></header>
<main id="content"><h1>Rollouts</h1>{body}</main></body></html>"""
