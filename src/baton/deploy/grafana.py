"""Render one RED dashboard per service as Grafana JSON (``baton export grafana``).

Each dashboard (schema version 39, importable into Grafana 9.3+) has a Prometheus data-source variable, a
``route`` variable (multi-select over the service's route templates), and four panels:

* **Rate** — requests per second by route;
* **Errors** — share of 5xx answers by route;
* **Duration** — p50, p95 and p99 by route, interpolated from the kit's histogram buckets;
* **SLO error budget** — ``slo:error_budget_remaining:ratio`` per SLO of the service (from the rules that
  :mod:`baton.deploy.prometheus` renders), red once overspent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from baton.telemetry.red import HTTP_DURATION
from baton.telemetry.slo import SLO

__all__ = ["SCHEMA_VERSION", "grafana_dashboard", "write_grafana"]

SCHEMA_VERSION = 39
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_QUANTILES = (0.5, 0.95, 0.99)


def grafana_dashboard(service: str, *, slos: Sequence[SLO] = ()) -> dict[str, Any]:
    """The RED dashboard of ``service`` (its SLO panel shows the SLOs in ``slos`` that target it)."""
    selector = f'service="{service}",http_route=~"$route"'
    rate = f"sum by (http_route) (rate({HTTP_DURATION}_count{{{selector}}}[$__rate_interval]))"
    errors = (
        f'sum by (http_route) (rate({HTTP_DURATION}_count{{{selector},http_response_status_code=~"5.."}}'
        f"[$__rate_interval]))\n/\n{rate}"
    )
    duration = [
        _target(
            f"histogram_quantile({q}, sum by (le, http_route) "
            f"(rate({HTTP_DURATION}_bucket{{{selector}}}[$__rate_interval])))",
            f"p{round(q * 100)} {{{{http_route}}}}",
            ref,
        )
        for q, ref in zip(_QUANTILES, "ABC", strict=True)
    ]
    panels = [
        _timeseries(1, "Rate", "reqps", [_target(rate, "{{http_route}}", "A")], x=0, y=0),
        _timeseries(2, "Errors (5xx share)", "percentunit", [_target(errors, "{{http_route}}", "A")], x=12, y=0),
        _timeseries(3, "Duration p50 / p95 / p99", "s", duration, x=0, y=8),
    ]
    own = [s for s in slos if s.service == service]
    panels.append(_budget_panel(service, own))
    return {
        "uid": f"baton-{service}"[:40],
        "title": f"Baton · {service} · RED",
        "tags": ["baton", "red", service],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "templating": {"list": [_datasource_variable(), _route_variable(service)]},
        "annotations": {"list": []},
        "panels": panels,
    }


def write_grafana(services: Iterable[str], directory: Path, *, slos: Sequence[SLO] = ()) -> list[Path]:
    """Write ``<directory>/baton-<service>.json`` per service; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for service in services:
        path = directory / f"baton-{service}.json"
        path.write_text(json.dumps(grafana_dashboard(service, slos=slos), indent=2) + "\n")
        paths.append(path)
    return paths


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": _DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def _timeseries(
    panel_id: int, title: str, unit: str, targets: list[dict[str, Any]], *, x: int, y: int
) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": _DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit, "min": 0}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]}},
        "targets": targets,
    }


def _budget_panel(service: str, slos: Sequence[SLO]) -> dict[str, Any]:
    # Every SLO of the service carries its `service` label in the recorded series; no need to list them.
    expr = f'slo:error_budget_remaining:ratio{{service="{service}"}}'
    return {
        "id": 4,
        "type": "stat",
        "title": "SLO error budget remaining",
        "description": "\n".join(f"{s.name}: {s.objective}% {s.sli}" for s in slos)
        or "No SLO declared for this service.",
        "datasource": _DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12, "y": 8},
        "fieldConfig": {
            "defaults": {
                "unit": "percentunit",
                "thresholds": {
                    "mode": "absolute",
                    "steps": [
                        {"color": "red", "value": None},
                        {"color": "orange", "value": 0},
                        {"color": "green", "value": 0.25},
                    ],
                },
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"]},
            "colorMode": "background",
            "textMode": "value_and_name",
        },
        "targets": [_target(expr, "{{slo}}", "A")],
    }


def _datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {}}


def _route_variable(service: str) -> dict[str, Any]:
    return {
        "name": "route",
        "label": "Route",
        "type": "query",
        "datasource": _DATASOURCE,
        "query": {"query": f'label_values({HTTP_DURATION}_count{{service="{service}"}}, http_route)', "refId": "route"},
        "definition": f'label_values({HTTP_DURATION}_count{{service="{service}"}}, http_route)',
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
        "sort": 1,
    }
