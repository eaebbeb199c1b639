"""The Grafana RED dashboards: schema, variables, panels and their queries."""

from __future__ import annotations

import json

from baton.deploy.grafana import SCHEMA_VERSION, grafana_dashboard, write_grafana
from baton.telemetry.slo import SLO

SLOS = [
    SLO(name="order-availability", service="order", objective=99.9),
    SLO(name="catalog-latency", service="catalog", objective=99, sli="latency", threshold=0.25),
]


def test_dashboard_shape():
    dashboard = grafana_dashboard("order", slos=SLOS)

    assert dashboard["schemaVersion"] >= 36
    assert dashboard["schemaVersion"] == SCHEMA_VERSION
    assert dashboard["uid"] == "baton-order"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource", "route"]
    assert [p["title"] for p in dashboard["panels"]] == [
        "Rate",
        "Errors (5xx share)",
        "Duration p50 / p95 / p99",
        "SLO error budget remaining",
    ]
    assert len({p["id"] for p in dashboard["panels"]}) == 4
    json.dumps(dashboard)  # serializable as is


def test_panels_query_the_services_red_metrics_by_route():
    panels = {p["title"]: p for p in grafana_dashboard("order")["panels"]}

    rate = panels["Rate"]["targets"][0]["expr"]
    errors = panels["Errors (5xx share)"]["targets"][0]["expr"]
    quantiles = [t["expr"] for t in panels["Duration p50 / p95 / p99"]["targets"]]
    assert 'http_server_request_duration_seconds_count{service="order",http_route=~"$route"}' in rate
    assert "sum by (http_route)" in rate
    assert 'http_response_status_code=~"5.."' in errors
    assert [q.split(",")[0] for q in quantiles] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.95",
        "histogram_quantile(0.99",
    ]
    assert all("sum by (le, http_route)" in q for q in quantiles)
    assert panels["Duration p50 / p95 / p99"]["fieldConfig"]["defaults"]["unit"] == "s"
    assert all(t["datasource"]["uid"] == "${datasource}" for p in panels.values() for t in p["targets"])
    # Panels never overlap on the grid.
    cells = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels.values()]
    assert len(set(cells)) == len(cells)


def test_the_budget_panel_lists_only_the_services_own_slos():
    budget = grafana_dashboard("catalog", slos=SLOS)["panels"][3]

    assert budget["targets"][0]["expr"] == 'slo:error_budget_remaining:ratio{service="catalog"}'
    assert "catalog-latency" in budget["description"]
    assert "order-availability" not in budget["description"]
    assert budget["fieldConfig"]["defaults"]["unit"] == "percentunit"


def test_write_one_file_per_service(tmp_path):
    paths = write_grafana(["order", "catalog"], tmp_path, slos=SLOS)

    assert [p.name for p in paths] == ["baton-order.json", "baton-catalog.json"]
    assert json.loads(paths[1].read_text())["title"] == "Baton · catalog · RED"
