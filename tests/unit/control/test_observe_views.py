"""The observation views and the dashboard's sign-in, on in-memory doubles: RED rows from a scraped window, SLO
rows with production window labels, topology from spans, the cookie flow and the API's cookie-for-reads rule."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from starlette.testclient import TestClient

from baton.control.api import require_admin
from baton.control.dashboard.auth import COOKIE, session_value
from baton.control.dashboard.graph import layout
from baton.control.dashboard.timeline import saga_lanes
from baton.control.observe import ObservePolicy, scaled_rules
from baton.control.observe_views import red_view, resilience_view, slo_view, topology_edges
from baton.errors import ConfigError
from baton.telemetry.burn import SloEvaluator
from baton.telemetry.slo import SLO
from baton.telemetry.spans import SpanRecord
from baton.telemetry.window import MetricWindow


def exposition(ok: int, slow: int, errors: int) -> str:
    total = ok + slow + errors
    lines = ["# TYPE http_server_request_duration_seconds histogram"]
    for status, count, fast in (("200", ok + slow, ok), ("503", errors, errors)):
        labels = f'service="web",http_route="/v1/x",http_request_method="GET",http_response_status_code="{status}"'
        for le, n in (("0.1", fast), ("0.5", count), ("+Inf", count)):
            lines.append(f'http_server_request_duration_seconds_bucket{{{labels},le="{le}"}} {n}')
        lines.append(f"http_server_request_duration_seconds_count{{{labels}}} {count}")
        lines.append(f"http_server_request_duration_seconds_sum{{{labels}}} {count * 0.05}")
    lines += [
        "# TYPE baton_client_breaker_state gauge",
        'baton_client_breaker_state{target="db"} 1',
        "# TYPE baton_client_requests counter",
        f'baton_client_requests_total{{target="db",outcome="success"}} {total}',
    ]
    return "\n".join(lines) + "\n"


def test_red_view_reads_rate_errors_and_quantiles_per_route():
    window = MetricWindow()
    window.ingest(exposition(0, 0, 0), at=100.0, labels={"instance": "web-1", "service": "web"})
    window.add("up", {"instance": "web-1", "service": "web"}, 1.0, at=100.0, counter=False)
    window.ingest(exposition(80, 10, 10), at=110.0, labels={"instance": "web-1", "service": "web"})
    window.add("up", {"instance": "web-1", "service": "web"}, 1.0, at=110.0, counter=False)
    view = red_view(window, now=110.0, over=10.0, step=10.0, points=3)
    (service,) = view["services"]
    assert service["service"] == "web"
    assert service["rate"] == pytest.approx(10.0)
    assert service["error_ratio"] == pytest.approx(0.1)
    assert service["instances_up"] == 1
    # Rank 50 of 100 falls in the 0–100 ms bucket, which holds 90 (80 fast successes + 10 fast errors).
    assert service["p50_ms"] == pytest.approx(55.56, rel=0.01)
    assert service["series"]["rate"] == [0.0, 0.0, 10.0]
    assert [r["route"] for r in service["routes"]] == ["/v1/x"]
    clients = resilience_view(window, now=110.0, over=10.0)["clients"]
    assert clients == [
        {
            "service": "web",
            "instance": "web-1",
            "target": "db",
            "breaker": "open",
            "queue_depth": None,
            "outcomes": {"success": 10.0},
        },
    ]


def test_slo_view_labels_scaled_windows_with_their_production_length():
    scale = 0.001
    slo = SLO(name="x-latency", service="web", sli="latency", threshold=0.1, objective=95.0, window=30 * 86400 * scale)
    window = MetricWindow()
    evaluator = SloEvaluator([slo], window, rules=scaled_rules(scale), step=0.06)
    window.ingest(exposition(0, 0, 0), at=100.0, labels={"service": "web"})
    evaluator.tick(100.0)
    window.ingest(exposition(0, 100, 0), at=101.0, labels={"service": "web"})
    evaluator.tick(101.0)
    (row,) = slo_view(evaluator.status(), [slo], scale=scale)
    assert row["state"] == "page"
    assert row["window"] == "30d"
    assert [b["window"] for b in row["burn_rates"]] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    assert {f["long_window"] for f in row["firing"]} >= {"1h", "6h"}
    assert row["budget_remaining"] < 0


def test_policy_from_env_and_its_limits():
    policy = ObservePolicy.from_env({"BATON_SCRAPE_INTERVAL": "0.5", "BATON_SLO_TIME_SCALE": "0.01"})
    assert (policy.scrape_interval, policy.time_scale, policy.red_window) == (0.5, 0.01, 60.0)
    with pytest.raises(ConfigError):
        ObservePolicy.from_env({"BATON_SLO_TIME_SCALE": "2"})
    with pytest.raises(ConfigError):
        ObservePolicy.from_env({"BATON_SCRAPE_INTERVAL": "often"})


def span(span_id, parent, service, error=False):
    return SpanRecord("t" * 32, span_id, parent, "op", service, 0, 10, error=error)


def test_topology_counts_calls_between_services_once_and_lays_them_out():
    spans = [
        span("1", None, "gateway"),
        span("2", "1", "order"),
        span("3", "2", "order"),  # internal work: no edge
        span("4", "3", "payment", error=True),
        span("5", "2", "inventory"),
        span("6", "missing", "catalog"),  # orphan: its parent was not kept
    ]
    edges = topology_edges(spans)
    assert edges == {
        ("gateway", "order"): {"calls": 1, "errors": 0},
        ("order", "payment"): {"calls": 1, "errors": 1},
        ("order", "inventory"): {"calls": 1, "errors": 0},
    }
    graph = {
        "nodes": ["gateway", "inventory", "order", "payment"],
        "edges": [{"source": s, "target": t, **c} for (s, t), c in edges.items()],
    }
    drawing = layout(graph, known=["catalog"])
    x = {n["name"]: n["x"] for n in drawing["nodes"]}
    assert x["gateway"] < x["order"] < x["payment"] == x["inventory"]
    assert next(n for n in drawing["nodes"] if n["name"] == "catalog")["isolated"] is True


def test_saga_lanes_count_retries_and_compensations():
    def e(seq, kind, ms, step=None):
        return {"seq": seq, "kind": kind, "at": f"2026-01-01T00:00:00.{ms:03d}+00:00", "step": step, "payload": {}}

    history = {
        "saga": {},
        "entries": [
            e(1, "saga_started", 0),
            e(2, "step_started", 1, "a"),
            e(3, "step_succeeded", 10, "a"),
            e(4, "step_started", 11, "b"),
            e(5, "step_retry", 20, "b"),
            e(6, "step_started", 30, "b"),
            e(7, "step_failed", 40, "b"),
            e(8, "compensation_started", 41, "a"),
            e(9, "compensation_failed", 50, "a"),
            e(10, "compensation_succeeded", 60, "a"),
            e(11, "saga_compensated", 61),
        ],
    }
    lanes, entries = saga_lanes(history)
    a, b = lanes
    assert (a["state"], a["compensation"], a["compensation_failures"]) == ("succeeded", "done", 1)
    assert (b["state"], b["tries"], b["retries"]) == ("failed", 2, 1)
    assert entries[-1]["offset_ms"] == pytest.approx(61.0)


@pytest.fixture
def guarded() -> TestClient:
    app = FastAPI()
    app.state.token = "s3cret"

    @app.get("/v1/thing", dependencies=[Depends(require_admin)])
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/v1/thing", dependencies=[Depends(require_admin)])
    async def change() -> dict[str, bool]:
        return {"changed": True}

    from baton.control.api import _problem
    from baton.errors import BatonError

    app.add_exception_handler(BatonError, _problem)
    return TestClient(app)


def test_the_session_cookie_authenticates_reads_but_never_writes(guarded):
    assert guarded.get("/v1/thing").status_code == 401
    assert guarded.get("/v1/thing", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    guarded.cookies.set(COOKIE, session_value("s3cret"))
    assert guarded.get("/v1/thing").status_code == 200
    assert guarded.post("/v1/thing").status_code == 401
    guarded.cookies.set(COOKIE, session_value("old-token"))
    assert guarded.get("/v1/thing").status_code == 401
    assert session_value("s3cret") != "s3cret"
