"""``baton export prometheus|grafana``: files rendered from the manifest, no control plane needed."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from baton.cli.main import app

runner = CliRunner()

MANIFEST = """\
name: shop
services:
  order: {command: [x]}
  catalog: {command: [x]}
slos:
  - {name: checkout-latency, service: order, sli: latency, threshold: 300ms, objective: 99.0, route: /v1/orders,
     runbook: https://runbooks.example/checkout}
  - {name: catalog-availability, service: catalog, objective: 99.9}
"""


def write(tmp_path: Path, text: str = MANIFEST) -> Path:
    path = tmp_path / "baton.yaml"
    path.write_text(text)
    return path


def test_prometheus_writes_rules_and_their_tests(tmp_path):
    out = tmp_path / "rules"
    result = runner.invoke(app, ["export", "prometheus", "-f", str(write(tmp_path)), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    files = [Path(p) for p in json.loads(result.stdout)["files"]]
    assert {p.name for p in files} == {"baton-slo-rules.yml", "baton-slo-rules.test.yml"}
    rules = yaml.safe_load((out / "baton-slo-rules.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert {a["labels"]["slo"] for a in alerts} == {"checkout-latency", "catalog-availability"}
    assert any(a["annotations"].get("runbook_url") == "https://runbooks.example/checkout" for a in alerts)


def test_grafana_writes_one_dashboard_per_service(tmp_path):
    out = tmp_path / "dash"
    result = runner.invoke(app, ["export", "grafana", "-f", str(write(tmp_path)), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["baton-catalog.json", "baton-order.json"]
    order = json.loads((out / "baton-order.json").read_text())
    assert "order" in order["title"]
    assert order["panels"]


def test_prometheus_without_slos_fails_with_a_hint(tmp_path):
    manifest = write(tmp_path, "name: x\nservices:\n  a: {command: [x]}\n")
    result = runner.invoke(app, ["export", "prometheus", "-f", str(manifest), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "declares no SLOs" in result.output


def test_unknown_target_is_a_usage_error(tmp_path):
    assert runner.invoke(app, ["export", "datadog", "-f", str(write(tmp_path))]).exit_code == 2
