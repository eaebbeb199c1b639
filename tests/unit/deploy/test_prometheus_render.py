"""The Prometheus rules rendered from SLOs: their structure (promtool runs them in tests/integration/telemetry)."""

from __future__ import annotations

import pytest
import yaml

from baton.deploy.prometheus import (
    ALERT_NAME,
    duration_label,
    error_ratio_expr,
    prometheus_rule_tests,
    render_rules,
    write_prometheus,
)
from baton.telemetry.slo import SLO

CHECKOUT = SLO(
    name="checkout-latency",
    service="order",
    route="/v1/checkout",
    objective=99.0,
    sli="latency",
    threshold=0.3,
    runbook="https://rb/checkout",
)
AVAILABILITY = SLO(name="order-availability", service="order", objective=99.9)


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (300, "5m"),
        (1800, "30m"),
        (3600, "1h"),
        (7200, "2h"),
        (86400, "1d"),
        (2592000, "30d"),
        (90, "90s"),
        (0.5, "500ms"),
    ],
)
def test_duration_labels(seconds, label):
    assert duration_label(seconds) == label


def test_every_window_of_every_slo_gets_a_recording_rule_and_a_budget_gauge():
    document = yaml.safe_load(render_rules([CHECKOUT, AVAILABILITY]))

    names = [g["name"] for g in document["groups"]]
    assert names == [
        "slo:checkout-latency:recordings",
        "slo:checkout-latency:alerts",
        "slo:order-availability:recordings",
        "slo:order-availability:alerts",
    ]
    records = [r["record"] for r in document["groups"][0]["rules"]]
    assert records == [f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")] + [
        "slo:error_budget_remaining:ratio"
    ]
    assert all(r["labels"] == {"slo": "checkout-latency", "service": "order"} for r in document["groups"][0]["rules"])


def test_latency_sli_reads_the_threshold_bucket_and_availability_the_5xx_share():
    latency = error_ratio_expr(CHECKOUT, 300)
    availability = error_ratio_expr(AVAILABILITY, 3600)

    assert 'le="0.25"' in latency
    assert 'http_route="/v1/checkout"' in latency
    assert "[5m]" in latency
    assert 'http_response_status_code=~"5.."' in availability
    assert "or vector(0)" in availability
    assert "http_route" not in availability


def test_alerts_pair_long_and_short_windows_per_severity():
    document = yaml.safe_load(render_rules([CHECKOUT]))
    page, ticket = document["groups"][1]["rules"]

    assert page["alert"] == ticket["alert"] == ALERT_NAME
    assert page["labels"] == {"slo": "checkout-latency", "service": "order", "severity": "page"}
    assert "ratio_rate1h" in page["expr"]
    assert "ratio_rate5m" in page["expr"]
    assert "(14.4 * 0.01)" in page["expr"]
    assert "ratio_rate6h" in page["expr"]
    assert "(6 * 0.01)" in page["expr"]
    assert "ratio_rate3d" in ticket["expr"]
    assert "(1 * 0.01)" in ticket["expr"]
    assert page["annotations"]["runbook_url"] == "https://rb/checkout"
    assert "judged at the 0.25s bucket" in page["annotations"]["description"]


def test_route_templates_are_quoted_safely():
    odd = SLO(name="odd", service="catalog", route='/v1/items/{id}"x', objective=99)

    assert r'http_route="/v1/items/{id}\"x"' in error_ratio_expr(odd, 300)


def test_the_rule_tests_cover_burning_slow_burning_and_healthy_traffic():
    tests = prometheus_rule_tests([CHECKOUT])["tests"]

    assert [t["name"].split(": ")[1] for t in tests] == [
        "all requests bad, every burn-rate alert fires",
        "budget burning 5x, a ticket but no page",
        "healthy traffic, no alert and the budget intact",
    ]
    assert [a["exp_labels"]["severity"] for a in tests[0]["alert_rule_test"][0]["exp_alerts"]] == ["page", "ticket"]
    assert [a["exp_labels"]["severity"] for a in tests[1]["alert_rule_test"][0]["exp_alerts"]] == ["ticket"]
    assert tests[2]["alert_rule_test"][0]["exp_alerts"] == []


def test_write_puts_both_files_side_by_side(tmp_path):
    rules, tests = write_prometheus([AVAILABILITY], tmp_path / "out")

    assert yaml.safe_load(tests.read_text())["rule_files"] == [rules.name]
    assert rules.parent == tests.parent
