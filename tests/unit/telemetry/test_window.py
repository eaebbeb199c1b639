"""The scraped time-series window: counter resets, increases over windows, bounds, and ingesting real expositions."""

from __future__ import annotations

import re

import pytest

from baton.errors import TelemetryError
from baton.telemetry.metrics import HttpServerMetrics
from baton.telemetry.window import MetricWindow, WindowPolicy


def test_a_counter_reset_does_not_look_like_a_negative_increase():
    window = MetricWindow()
    for t, value in [(0, 10), (10, 20), (20, 5), (30, 15)]:  # restart between 10 s and 20 s
        window.add("requests_total", {"i": "1"}, value, at=t, counter=True)

    assert window.increase("requests_total", window=30, now=30) == 25  # 10 before the restart, 5 + 10 after
    assert window.increase("requests_total", window=10, now=30) == 10


def test_gauges_are_not_corrected():
    window = MetricWindow()
    window.add("inflight", {}, 5, at=0, counter=False)
    window.add("inflight", {}, 2, at=1, counter=False)

    assert window.latest("inflight", now=1) == 2


@pytest.mark.parametrize(("over", "expected"), [(5, 0), (10, 10), (20, 20), (100, 30)])
def test_increase_over_a_window_uses_the_last_sample_before_it_as_baseline(over, expected):
    window = MetricWindow()
    for t in range(0, 40, 10):
        window.add("c_total", {}, t, at=t, counter=True)
    window.add("c_total", {}, 30, at=35, counter=True)

    assert window.increase("c_total", window=over, now=35) == expected


def test_matchers_select_by_exact_value_or_full_regex_and_sum_series():
    window = MetricWindow()
    for status, count in [("200", 90), ("503", 7), ("500", 3), ("5000", 1)]:
        window.add("n_count", {"status": status}, 0, at=0, counter=True)
        window.add("n_count", {"status": status}, count, at=10, counter=True)

    assert window.increase("n_count", window=10, now=10) == 101
    assert window.increase("n_count", {"status": re.compile(r"5\d\d")}, window=10, now=10) == 10
    assert window.increase("n_count", {"status": "200"}, window=10, now=10) == 90
    assert window.increase_by("n_count", "status", {"status": re.compile("50.")}, window=10, now=10) == {
        "503": 7,
        "500": 3,
    }


def test_retention_and_sample_bounds():
    window = MetricWindow(WindowPolicy(retention=100, max_samples=3))
    for t in range(10):
        window.add("a", {}, t, at=t * 10, counter=False)
        window.add("gone", {}, 1, at=0, counter=False)

    assert [t for t, _ in window.select("a")[0].samples] == [70, 80, 90]
    window.trim(now=150)
    assert window.select("gone") == []
    assert len(window) == 1


def test_series_beyond_the_bound_are_refused_and_counted():
    window = MetricWindow(WindowPolicy(max_series=2))
    for i in range(4):
        window.add("x", {"id": str(i)}, 1, at=0, counter=False)

    assert len(window) == 2
    assert window.refused == 2


def test_ingesting_the_kits_exposition_with_target_labels():
    metrics = HttpServerMetrics(service="order")
    metrics.request_started("POST")
    for status, seconds in [(200, 0.02), (200, 0.3), (503, 1.2)]:
        metrics.observe(route="/v1/orders", method="POST", status=status, seconds=seconds)
    body, _ = metrics.render()
    window = MetricWindow()

    added = window.ingest(body.decode(), at=100, labels={"instance": "order-1"})

    assert added > 10
    count = window.select("http_server_request_duration_seconds_count")
    assert {s.labels["http_response_status_code"] for s in count} == {"200", "503"}
    assert all(s.labels["instance"] == "order-1" and s.labels["service"] == "order" and s.counter for s in count)
    buckets = window.select(
        "http_server_request_duration_seconds_bucket", {"le": "+Inf", "http_response_status_code": "200"}
    )
    assert buckets[0].samples[-1] == (100, 2.0)
    assert window.select("http_server_active_requests")[0].counter is False
    assert window.select("http_server_request_duration_seconds_created") == []


def test_an_invalid_exposition_is_a_telemetry_error():
    with pytest.raises(TelemetryError):
        MetricWindow().ingest("metric{broken 1\n", at=0)


def test_a_counter_first_seen_in_a_later_scrape_counts_from_zero():
    metrics = HttpServerMetrics(service="order")
    metrics.observe(route="/a", method="GET", status=200, seconds=0.01)
    window = MetricWindow()
    window.ingest(metrics.render()[0].decode(), at=0, labels={"instance": "order-1"})
    for _ in range(3):
        metrics.observe(route="/a", method="GET", status=500, seconds=0.01)  # a new series appears
    window.ingest(metrics.render()[0].decode(), at=10, labels={"instance": "order-1"})

    errors = window.increase(
        "http_server_request_duration_seconds_count", {"http_response_status_code": "500"}, window=10, now=10
    )

    assert errors == 3
