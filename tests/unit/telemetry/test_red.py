"""RED queries: PromQL-compatible quantiles from buckets, error ratios, and the bucket an SLO threshold maps to."""

from __future__ import annotations

import math

import pytest

from baton.telemetry.metrics import HttpServerMetrics
from baton.telemetry.red import (
    error_ratio,
    good_latency_ratio,
    histogram_quantile,
    latency_bucket,
    latency_quantile,
    request_rate,
    selector,
)
from baton.telemetry.window import MetricWindow

INF = math.inf


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        # Values checked against Prometheus' own histogram_quantile test cases (promql/testdata/histograms.test).
        (0.5, [(0.1, 50), (0.2, 70), (INF, 100)], 0.1),
        (0.6, [(0.1, 50), (0.2, 70), (INF, 100)], 0.15),
        (0.25, [(0.1, 50), (0.2, 70), (INF, 100)], 0.05),
        (0.99, [(0.1, 50), (0.2, 70), (INF, 100)], 0.2),  # rank in +Inf: the largest finite bound
        (0.5, [(1.0, 0), (2.0, 10), (INF, 10)], 1.5),
        (0.5, [(0.1, 0), (INF, 0)], None),  # no observations
        (0.5, [(0.1, 5), (0.2, 10)], None),  # no +Inf bucket
        (0.5, [], None),
    ],
)
def test_histogram_quantile(q, buckets, expected):
    result = histogram_quantile(q, buckets)

    assert result == expected if expected is None else result == pytest.approx(expected)


@pytest.mark.parametrize(("threshold", "bound"), [(0.3, 0.25), (0.25, 0.25), (0.1, 0.1), (0.001, 0.005), (60.0, 10.0)])
def test_latency_thresholds_map_to_the_largest_bucket_not_above_them(threshold, bound):
    assert latency_bucket(threshold) == bound


@pytest.fixture
def window():
    """Two scrapes of one instance 60 s apart: 100 requests, 10 of them 5xx, latencies spread over buckets."""
    metrics = HttpServerMetrics(service="order")
    window = MetricWindow()
    metrics.observe(route="/v1/orders", method="GET", status=200, seconds=0.01)
    window.ingest(metrics.render()[0].decode(), at=0, labels={"instance": "order-1"})
    for i in range(100):
        status = 503 if i < 10 else 200
        seconds = 0.02 if i < 80 else 0.4
        metrics.observe(route="/v1/orders" if i % 2 else "/v1/items", method="GET", status=status, seconds=seconds)
    window.ingest(metrics.render()[0].decode(), at=60, labels={"instance": "order-1"})
    return window


def test_rate_error_ratio_and_quantiles_over_the_window(window):
    order = selector("order")

    assert request_rate(window, order, over=60, now=60) == pytest.approx(100 / 60)
    assert error_ratio(window, order, over=60, now=60) == pytest.approx(0.10)
    assert error_ratio(window, selector("order", "/v1/orders"), over=60, now=60) == pytest.approx(5 / 50)
    assert latency_quantile(window, 0.5, order, over=60, now=60) == pytest.approx(0.01 + 0.015 * (50 / 80))
    assert 0.25 < latency_quantile(window, 0.95, order, over=60, now=60) <= 0.5
    assert good_latency_ratio(window, 0.3, order, over=60, now=60) == pytest.approx(0.80)


def test_no_traffic_means_no_ratio(window):
    assert error_ratio(window, selector("nobody"), over=60, now=60) is None
    assert good_latency_ratio(window, 0.3, selector("nobody"), over=60, now=60) is None
    assert latency_quantile(window, 0.5, selector("nobody"), over=60, now=60) is None
