"""RED queries (rate, errors, duration) over a :class:`~baton.telemetry.window.MetricWindow`.

They read the kit's OTel-named histogram (:mod:`baton.telemetry.metrics`)::

    http_server_request_duration_seconds_{bucket,count,sum}{service, http_route, http_request_method,
                                                             http_response_status_code, le}

and answer what the dashboard, SLOs and canary analysis ask: requests per second, the share of 5xx, and
latency quantiles interpolated from bucket counts exactly as PromQL's ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from baton.telemetry.metrics import DURATION_BUCKETS
from baton.telemetry.window import Matchers, MetricWindow

__all__ = [
    "HTTP_DURATION",
    "SERVER_ERROR",
    "error_ratio",
    "good_latency_ratio",
    "histogram_quantile",
    "latency_bucket",
    "latency_quantile",
    "request_rate",
    "selector",
]

HTTP_DURATION = "http_server_request_duration_seconds"
"""Base name of the kit's request-duration histogram."""
SERVER_ERROR = re.compile(r"5\d\d")
"""Status codes that count as errors (semantic conventions: 5xx on the server side; 4xx is the caller's)."""


def selector(service: str, route: str | None = None) -> dict[str, str | re.Pattern[str]]:
    """Label matchers of one service, optionally narrowed to one route template."""
    matchers: dict[str, str | re.Pattern[str]] = {"service": service}
    if route is not None:
        matchers["http_route"] = route
    return matchers


def request_rate(window: MetricWindow, matchers: Matchers, *, over: float, now: float) -> float:
    """Requests per second over the last ``over`` seconds."""
    return window.rate(f"{HTTP_DURATION}_count", matchers, window=over, now=now)


def error_ratio(window: MetricWindow, matchers: Matchers, *, over: float, now: float) -> float | None:
    """Share of requests answered 5xx over the last ``over`` seconds; ``None`` without traffic."""
    total = window.increase(f"{HTTP_DURATION}_count", matchers, window=over, now=now)
    if total <= 0:
        return None
    errors = window.increase(
        f"{HTTP_DURATION}_count", {**matchers, "http_response_status_code": SERVER_ERROR}, window=over, now=now
    )
    return errors / total


def latency_quantile(window: MetricWindow, q: float, matchers: Matchers, *, over: float, now: float) -> float | None:
    """The ``q`` quantile (0..1) of request duration in seconds over the last ``over`` seconds."""
    by_le = window.increase_by(f"{HTTP_DURATION}_bucket", "le", matchers, window=over, now=now)
    return histogram_quantile(q, [(_le(k), v) for k, v in by_le.items()])


def good_latency_ratio(
    window: MetricWindow, threshold: float, matchers: Matchers, *, over: float, now: float
) -> float | None:
    """Share of requests not slower than the bucket bound :func:`latency_bucket` picks for ``threshold`` s."""
    total = window.increase(f"{HTTP_DURATION}_count", matchers, window=over, now=now)
    if total <= 0:
        return None
    bound = latency_bucket(threshold)
    by_le = window.increase_by(f"{HTTP_DURATION}_bucket", "le", matchers, window=over, now=now)
    good = sum(v for k, v in by_le.items() if math.isclose(_le(k), bound))
    return good / total


def latency_bucket(threshold: float, buckets: Sequence[float] = DURATION_BUCKETS) -> float:
    """The histogram bound used to judge "faster than ``threshold`` seconds".

    The largest bound not above the threshold: with buckets 0.25 and 0.5, a 300 ms objective counts requests
    up to 250 ms as good. That is conservative (never reports better than reality) and renders to the same
    ``le`` label in Prometheus rules; declare thresholds on bucket bounds to make it exact.
    """
    candidates = [b for b in buckets if b <= threshold + 1e-12]
    return max(candidates) if candidates else min(buckets)


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """PromQL's ``histogram_quantile`` over cumulative ``(upper bound, count)`` pairs; ``None`` without data.

    Linear interpolation inside the bucket holding the rank; a rank in the ``+Inf`` bucket answers the largest
    finite bound, as Prometheus does.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    if not math.isinf(ordered[-1][0]):
        return None  # without +Inf the total is unknown, and PromQL answers NaN
    total = ordered[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound if len(ordered) > 1 else None
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return ordered[-2][0] if len(ordered) > 1 else None


def _le(value: str) -> float:
    return math.inf if value in ("+Inf", "Inf", "inf") else float(value)
