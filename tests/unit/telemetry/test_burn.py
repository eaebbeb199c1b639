"""Live SLO evaluation with an injected clock: burn rates, multi-window alerts, budget remaining."""

from __future__ import annotations

import pytest

from baton.telemetry.burn import SliLedger, SloEvaluator
from baton.telemetry.slo import SLO
from baton.telemetry.window import MetricWindow, WindowPolicy

COUNT = "http_server_request_duration_seconds_count"
BUCKET = "http_server_request_duration_seconds_bucket"
MINUTE = 60.0
HOUR = 3600.0


class Traffic:
    """Cumulative counters of one service, advanced minute by minute and 'scraped' into the window."""

    def __init__(self, window: MetricWindow, service: str = "order", route: str = "/v1/checkout") -> None:
        self.window = window
        self.base = {"service": service, "http_route": route, "http_request_method": "POST"}
        self.ok = self.errors = self.fast = 0.0

    def minute(self, at: float, *, requests: int, bad: float = 0.0, slow: float = 0.0) -> None:
        self.errors += requests * bad
        self.ok += requests * (1 - bad)
        self.fast += requests * (1 - slow)
        self.window.add(COUNT, {**self.base, "http_response_status_code": "200"}, self.ok, at=at, counter=True)
        self.window.add(COUNT, {**self.base, "http_response_status_code": "503"}, self.errors, at=at, counter=True)
        self.window.add(
            BUCKET, {**self.base, "http_response_status_code": "200", "le": "0.25"}, self.fast, at=at, counter=True
        )


def run(evaluator: SloEvaluator, traffic: Traffic, *, start: float, minutes: int, **load) -> float:
    t = start
    for _ in range(minutes):
        t += MINUTE
        traffic.minute(t, **load)
        evaluator.tick(t)
    return t


@pytest.fixture
def setup():
    window = MetricWindow(WindowPolicy(retention=2 * HOUR))
    availability = SLO(name="order-availability", service="order", objective=99.0, runbook="https://rb/order")
    latency = SLO(
        name="checkout-latency", service="order", route="/v1/checkout", objective=99.0, sli="latency", threshold=0.3
    )
    evaluator = SloEvaluator([availability, latency], window, step=MINUTE)
    traffic = Traffic(window)
    traffic.minute(0.0, requests=0)
    evaluator.tick(0.0)
    return evaluator, traffic


def by_name(statuses):
    return {s.slo.name: s for s in statuses}


def test_healthy_traffic_fires_nothing_and_keeps_the_budget(setup):
    evaluator, traffic = setup

    run(evaluator, traffic, start=0, minutes=30, requests=1000, bad=0.001)

    status = by_name(evaluator.status())["order-availability"]
    assert evaluator.firing() == []
    assert status.good_ratio == pytest.approx(0.999)
    assert status.budget_remaining == pytest.approx(0.9)


def test_a_total_outage_pages_within_ten_minutes_and_stops_paging_soon_after(setup):
    evaluator, traffic = setup
    t = run(evaluator, traffic, start=0, minutes=360, requests=1000)  # 6 h of history, so no window is clamped

    # 14.4x over 1 h spends 2% of a 30-day budget: at 100% errors against a 1% budget that takes ~9 minutes.
    t = run(evaluator, traffic, start=t, minutes=8, requests=1000, bad=1.0)
    not_yet = {a.key for a in evaluator.firing()}
    t = run(evaluator, traffic, start=t, minutes=2, requests=1000, bad=1.0)
    paged = {a.key for a in evaluator.firing()}
    t = run(evaluator, traffic, start=t, minutes=10, requests=1000)
    after_recovery = {a.key for a in evaluator.firing()}

    assert "slo:order-availability:page" not in not_yet
    assert "slo:order-availability:page" in paged
    assert "slo:checkout-latency:page" not in paged  # fast failures are not slow ones
    # The 5-minute window has recovered: no more page, although the 1 h window still burns above 14.4x.
    assert "slo:order-availability:page" not in after_recovery
    assert by_name(evaluator.status())["order-availability"].burn_rates[HOUR] > 14.4


def test_a_slow_burn_opens_a_ticket_but_never_pages(setup):
    evaluator, traffic = setup

    run(evaluator, traffic, start=0, minutes=180, requests=1000, bad=0.04)  # 4x the 1% budget

    status = by_name(evaluator.status())["order-availability"]
    assert [a.severity for a in status.alerts] == ["ticket"]
    assert status.burn_rates[2 * HOUR] == pytest.approx(4.0)
    assert status.budget_remaining == pytest.approx(-3.0)  # the history so far has overspent the budget 4x


def test_latency_slo_counts_requests_slower_than_the_threshold_bucket(setup):
    evaluator, traffic = setup

    run(evaluator, traffic, start=0, minutes=10, requests=1000, slow=0.5)

    status = by_name(evaluator.status())["checkout-latency"]
    assert status.good_ratio == pytest.approx(0.5)
    (page,) = [a for a in status.alerts if a.severity == "page"]
    assert page.service == "order"
    assert "checkout-latency" in page.summary
    assert "50.0x" in page.summary


def test_without_traffic_nothing_burns(setup):
    evaluator, _ = setup

    statuses = evaluator.tick(10 * MINUTE)

    assert all(s.good_ratio is None and s.budget_remaining == 1.0 and not s.firing for s in statuses)


def test_the_alert_carries_the_runbook(setup):
    evaluator, traffic = setup
    run(evaluator, traffic, start=0, minutes=5, requests=100, bad=1.0)

    (page,) = [a for a in evaluator.firing() if a.key == "slo:order-availability:page"]

    assert page.runbook == "https://rb/order"
    assert page.labels == {"slo": "order-availability", "sli": "availability"}


def test_the_ledger_keeps_one_point_per_step_and_its_horizon():
    ledger = SliLedger(step=60, horizon=600)
    for second in range(0, 1800, 10):
        ledger.record(second, bad=1, total=10)

    spacing = [b[0] - a[0] for a, b in zip(ledger.points, list(ledger.points)[1:], strict=False)]
    assert all(gap == 60 for gap in spacing[:-1])
    assert ledger.points[1][0] >= 1790 - 600 - 60
    bad, total = ledger.over(300, now=1790)
    assert bad / total == pytest.approx(0.1)
    assert 280 <= total <= 370
