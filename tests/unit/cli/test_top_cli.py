"""``baton top``: RED per service and route from the control plane, once or as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from baton.cli.main import app
from baton.cli.top import sparkline

sys.path.insert(0, str(Path(__file__).parent))
from fake_api import install

runner = CliRunner()


def red_row(**values):
    return {
        "rate": 12.5,
        "error_ratio": 0.02,
        "p50_ms": 3.4,
        "p99_ms": 240.0,
        "series": {"t": [1, 2, 3], "rate": [1.0, None, 4.0], "errors": [0, 0, 0.1]},
        **values,
    }


VIEW = {
    "at": 1.0,
    "window_s": 60,
    "step_s": 10,
    "services": [
        {
            **red_row(),
            "service": "order",
            "instances": 2,
            "instances_up": 2,
            "routes": [{**red_row(), "route": "/v1/orders"}],
        },
        {**red_row(rate=0.0, error_ratio=None), "service": "catalog", "instances": 1, "instances_up": 0, "routes": []},
    ],
}


def test_once_prints_services_and_routes(monkeypatch):
    api = install(monkeypatch, {"/v1/metrics/red": VIEW})
    result = runner.invoke(app, ["top", "--once"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    order = next(line for line in result.output.splitlines() if line.startswith("order"))
    assert "2/2" in order
    assert "12.5" in order
    assert "2.00%" in order
    assert "240.0ms" in order
    assert "  /v1/orders" in result.output
    catalog = next(line for line in result.output.splitlines() if line.startswith("catalog"))
    assert "0/1" in catalog
    assert api.calls == [("/v1/metrics/red", {})]


def test_service_filter_and_window(monkeypatch):
    api = install(monkeypatch, {"/v1/metrics/red": VIEW})
    result = runner.invoke(app, ["top", "--once", "--service", "catalog", "--over", "30"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    assert "catalog" in result.output
    assert "order" not in result.output
    assert api.calls == [("/v1/metrics/red", {"over": 30.0})]


def test_json_is_the_view(monkeypatch):
    install(monkeypatch, {"/v1/metrics/red": VIEW})
    result = runner.invoke(app, ["top", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == VIEW


def test_sparkline_scales_to_the_peak_and_keeps_gaps():
    assert sparkline([0.0, 5.0, 10.0, None]) == "▁▄█ "
    assert sparkline([None, 0.0]) == " ▁"
    assert len(sparkline([1.0] * 50, width=20)) == 20


def test_bad_interval_is_a_usage_error(monkeypatch):
    install(monkeypatch, {"/v1/metrics/red": VIEW})
    assert runner.invoke(app, ["top", "--interval", "0"]).exit_code == 2
