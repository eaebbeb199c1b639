"""``baton trace``: a stored trace drawn as a waterfall, trace search, and the exit codes around them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from baton.cli.main import app

sys.path.insert(0, str(Path(__file__).parent))
from fake_api import install

runner = CliRunner()
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def span(span_id, parent, service, name, start_ms, end_ms, error=False):
    return {
        "trace_id": TRACE,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "service": service,
        "start_ns": 1_700_000_000_000_000_000 + start_ms * 1_000_000,
        "end_ns": 1_700_000_000_000_000_000 + end_ms * 1_000_000,
        "kind": "server",
        "error": error,
        "duration_ns": (end_ms - start_ms) * 1_000_000,
        "attributes": {},
        "events": [],
        "links": [],
    }


SPANS = [
    span("a" * 16, None, "gateway", "POST /api/orders", 0, 400),
    span("b" * 16, "a" * 16, "order", "POST /v1/orders", 5, 390),
    span("c" * 16, "b" * 16, "payment", "POST /v1/payments/authorize", 100, 300, error=True),
]


def test_a_trace_is_drawn_nested_with_errors_marked(monkeypatch):
    api = install(monkeypatch, {f"/v1/telemetry/traces/{TRACE}": {"trace_id": TRACE, "spans": SPANS}})
    result = runner.invoke(app, ["trace", TRACE.upper()], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    gateway = next(line for line in lines if "POST /api/orders" in line)
    order = next(line for line in lines if "POST /v1/orders" in line)
    payment = next(line for line in lines if "authorize" in line)
    # Children are indented under their parents; the failed span is marked and the durations are shown.
    assert order.index("POST /v1/orders") > gateway.index("POST /api/orders")
    assert payment.index("POST /v1/payments") > order.index("POST /v1/orders")
    assert "✗" in payment
    assert "400.0ms" in gateway
    assert api.calls == [(f"/v1/telemetry/traces/{TRACE}", {})]


def test_json_is_the_api_answer(monkeypatch):
    install(monkeypatch, {f"/v1/telemetry/traces/{TRACE}": {"trace_id": TRACE, "spans": SPANS}})
    result = runner.invoke(app, ["trace", TRACE, "--json"])
    assert result.exit_code == 0
    assert [s["service"] for s in json.loads(result.stdout)["spans"]] == ["gateway", "order", "payment"]


def test_an_unknown_trace_fails_with_one_line(monkeypatch):
    install(monkeypatch, {})
    result = runner.invoke(app, ["trace", TRACE])
    assert result.exit_code == 1
    assert f"trace {TRACE} is not stored" in result.output
    assert "Traceback" not in result.output


def test_search_passes_the_criteria_and_lists_traces(monkeypatch):
    summary = {
        "trace_id": TRACE,
        "root_service": "gateway",
        "root_name": "POST /api/orders",
        "start_ns": 1,
        "duration_ns": 412_000_000,
        "span_count": 3,
        "error": True,
        "services": ["gateway", "order", "payment"],
    }
    api = install(monkeypatch, {"/v1/telemetry/traces": [summary]})
    args = ["trace", "--search", "--service", "order", "--min-ms", "100", "--errors", "--lookback", "15m"]
    result = runner.invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert TRACE in result.output
    assert "412.0ms" in result.output
    assert api.calls == [
        (
            "/v1/telemetry/traces",
            {"min_duration_ms": 100.0, "lookback_s": 900.0, "limit": 20, "service": "order", "error": "true"},
        )
    ]


def test_usage_errors_exit_2(monkeypatch):
    install(monkeypatch, {})
    assert runner.invoke(app, ["trace"]).exit_code == 2
    assert runner.invoke(app, ["trace", "not-hex"]).exit_code == 2
    assert runner.invoke(app, ["trace", TRACE, "--search"]).exit_code == 2
    assert runner.invoke(app, ["trace", "--search", "--lookback", "soon"]).exit_code == 2


def test_without_a_control_plane_it_says_how_to_start_one(tmp_path, monkeypatch):
    monkeypatch.delenv("BATON_HOME", raising=False)
    manifest = tmp_path / "baton.yaml"
    manifest.write_text("name: demo\nservices:\n  web: {command: [x]}\n")
    result = runner.invoke(app, ["trace", TRACE, "-f", str(manifest)])
    assert result.exit_code == 1
    assert "baton up" in result.output
