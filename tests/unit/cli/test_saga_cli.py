"""``baton saga list|show``: sagas through the control plane's aggregation, rendered as a timeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from baton.cli.main import app

sys.path.insert(0, str(Path(__file__).parent))
from fake_api import install

runner = CliRunner()

SAGA = {
    "id": "s-1",
    "name": "checkout",
    "status": "compensated",
    "data": {},
    "correlation_id": "corr-9",
    "version": 1,
    "created_at": "2026-01-01T10:00:00+00:00",
    "updated_at": "2026-01-01T10:00:01+00:00",
    "owner": None,
}


def entry(seq, kind, ms, step=None, attempt=None, error=None, payload=None):
    return {
        "seq": seq,
        "kind": kind,
        "at": f"2026-01-01T10:00:00.{ms:03d}000+00:00",
        "step": step,
        "attempt": attempt,
        "payload": payload or {},
        "error": error,
    }


HISTORY = {
    "service": "order",
    "saga": SAGA,
    "entries": [
        entry(1, "saga_started", 0, payload={"input": {"order": "o-1"}}),
        entry(2, "step_started", 1, "reserve_stock", 1),
        entry(3, "step_succeeded", 20, "reserve_stock", 1),
        entry(4, "step_started", 21, "authorize_payment", 1),
        entry(5, "step_retry", 40, "authorize_payment", 1, "payment 503", {"retry_in": 0.5}),
        entry(6, "step_failed", 560, "authorize_payment", 2, "card declined"),
        entry(7, "compensation_started", 561, "reserve_stock"),
        entry(8, "compensation_succeeded", 580, "reserve_stock"),
        entry(9, "saga_compensated", 581),
    ],
}


def test_show_renders_steps_retries_and_compensations(monkeypatch):
    api = install(monkeypatch, {"/v1/sagas/s-1": HISTORY})
    result = runner.invoke(app, ["saga", "show", "s-1"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "checkout" in out
    assert "compensated" in out
    assert "corr-9" in out
    assert "step_retry" in out
    assert "payment 503  (retry in 0.5s)" in out
    assert "compensation_succeeded" in out
    assert "orchestrated by order" in out
    # Entries in log order, with milliseconds since the start.
    assert out.index("reserve_stock") < out.index("authorize_payment")
    assert "560" in out
    assert api.calls == [("/v1/sagas/s-1", {})]


def test_show_unknown_saga_exits_1(monkeypatch):
    install(monkeypatch, {})
    result = runner.invoke(app, ["saga", "show", "nope"])
    assert result.exit_code == 1
    assert "no orchestrating service knows saga 'nope'" in result.output


def test_list_filters_and_reports_unavailable_sources(monkeypatch):
    answer = {
        "items": [{**SAGA, "service": "order"}],
        "sources": {"order": "ok", "billing": "unavailable (no answer)"},
    }
    api = install(monkeypatch, {"/v1/sagas": answer})
    result = runner.invoke(app, ["saga", "list", "--status", "compensated"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "s-1" in result.output
    assert "checkout v1" in result.output
    assert "billing: unavailable" in result.output
    assert api.calls == [("/v1/sagas", {"limit": 50, "status": "compensated"})]


def test_list_json_and_usage_errors(monkeypatch):
    install(monkeypatch, {"/v1/sagas": {"items": [], "sources": {}}})
    result = runner.invoke(app, ["saga", "list", "--json"])
    assert json.loads(result.stdout) == {"items": [], "sources": {}}
    assert runner.invoke(app, ["saga", "list", "--status", "sleeping"]).exit_code == 2
    assert runner.invoke(app, ["saga", "show"]).exit_code == 2


FLOW = {
    "correlation_id": "corr-9",
    "sagas": [{**SAGA, "service": "order"}],
    "services": ["order", "analytics", "notification"],
    "sources": {"order": "ok", "events": "4 instances answered"},
    "items": [
        {
            "t": 100.0,
            "at": "2026-01-01T10:00:00.000Z",
            "service": "order",
            "kind": "saga",
            "name": "checkout: saga_started",
            "detail": "",
            "ref": "s-1#1",
        },
        {
            "t": 100.5,
            "at": "2026-01-01T10:00:00.500Z",
            "service": "order",
            "kind": "produced",
            "name": "shop.order.order.confirmed.v1",
            "detail": "",
            "ref": "e1",
        },
        {
            "t": 100.75,
            "at": "2026-01-01T10:00:00.750Z",
            "service": "analytics",
            "kind": "handled",
            "name": "shop.order.order.confirmed.v1",
            "detail": "consumer analytics",
            "ref": "e1",
        },
        {
            "t": 101.25,
            "at": "2026-01-01T10:00:01.250Z",
            "service": "notification",
            "kind": "handled",
            "name": "shop.order.order.confirmed.v1",
            "detail": "consumer notification",
            "ref": "e1",
        },
    ],
}


def test_flow_renders_the_timeline_by_service(monkeypatch):
    api = install(monkeypatch, {"/v1/flows/corr-9": FLOW})
    result = runner.invoke(app, ["saga", "flow", "corr-9"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "flow corr-9: order, analytics, notification" in out
    assert out.index("saga_started") < out.index("consumer analytics") < out.index("consumer notification")
    assert "1.250" in out  # seconds since the flow's first point
    assert "4 instances answered" in out
    assert api.calls == [("/v1/flows/corr-9", {})]


def test_show_of_a_correlation_id_shows_its_flow(monkeypatch):
    api = install(monkeypatch, {"/v1/flows/corr-9": FLOW})
    result = runner.invoke(app, ["saga", "show", "corr-9"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "consumer notification" in result.output
    assert [path for path, _ in api.calls] == ["/v1/sagas/corr-9", "/v1/flows/corr-9"]


def test_flow_with_nothing_found_exits_1(monkeypatch):
    install(monkeypatch, {"/v1/flows/nope": {"correlation_id": "nope", "items": [], "services": [], "sources": {}}})
    result = runner.invoke(app, ["saga", "flow", "nope"])
    assert result.exit_code == 1
    assert "nothing found" in result.output
