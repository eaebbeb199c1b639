"""Canary analysis: the table of verdicts, and the figures measured from scraped kit metrics."""

from __future__ import annotations

import pytest

from baton.delivery import AnalysisPolicy, MetricAnalyzer, Stats, Verdict, judge
from baton.telemetry.slo import SLO
from baton.telemetry.window import MetricWindow

POLICY = AnalysisPolicy(min_requests=20)


@pytest.mark.parametrize(
    ("name", "canary", "stable", "verdict", "failing"),
    [
        ("healthy", Stats(100, 0, 0.008), Stats(1900, 0, 0.007), Verdict.PASS, []),
        ("30% 5xx", Stats(100, 30, 0.008), Stats(1900, 0, 0.007), Verdict.FAIL, ["error_rate"]),
        ("2% 5xx over a clean baseline", Stats(100, 2, 0.008), Stats(1900, 0, 0.007), Verdict.FAIL, ["error_rate"]),
        ("errors flat with stable", Stats(100, 5, 0.008), Stats(1900, 95, 0.007), Verdict.PASS, []),
        ("+200 ms p99", Stats(100, 0, 0.248), Stats(1900, 0, 0.009), Verdict.FAIL, ["p99"]),
        ("slower but within slack", Stats(100, 0, 0.030), Stats(1900, 0, 0.010), Verdict.PASS, []),
        ("over the absolute p99", Stats(100, 0, 0.7), Stats(1900, 0, 0.6), Verdict.FAIL, ["p99"]),
        ("too little traffic", Stats(10, 0, 0.008), Stats(190, 0, 0.007), Verdict.INCONCLUSIVE, []),
        ("too little traffic, even if failing", Stats(10, 5, 0.008), Stats(190, 0, 0.007), Verdict.INCONCLUSIVE, []),
        ("no traffic at all", Stats(), Stats(), Verdict.INCONCLUSIVE, []),
        (
            "SLO burning fast",
            Stats(100, 0, 0.008, burn={"availability": 20.0}),
            Stats(1900, 0, 0.007),
            Verdict.FAIL,
            ["burn:availability"],
        ),
    ],
)
def test_judge(name, canary, stable, verdict, failing) -> None:
    analysis = judge(canary, stable, POLICY, at=100.0, window=30.0)
    assert analysis.verdict is verdict, name
    assert [c.name for c in analysis.checks if c.ok is False] == failing
    if failing:
        assert analysis.reason  # says why, in one line
    assert analysis.as_dict()["verdict"] == str(verdict)


def _exposition(instance_counts: dict[str, tuple[int, int, float]]) -> dict[str, str]:
    """Kit-shaped /metrics text per instance: (ok requests, 500s, seconds each)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from baton.telemetry.metrics import HttpServerMetrics

    texts = {}
    for instance, (ok, bad, seconds) in instance_counts.items():
        metrics = HttpServerMetrics(service="hello", registry=CollectorRegistry())
        for _ in range(ok):
            metrics.observe(route="/v1/hello", method="GET", status=200, seconds=seconds)
        for _ in range(bad):
            metrics.observe(route="/v1/hello", method="GET", status=500, seconds=seconds)
        texts[instance] = generate_latest(metrics.registry).decode()
    return texts


def test_metric_analyzer_splits_versions_by_instance() -> None:
    window = MetricWindow()
    slo = SLO(name="hello-availability", service="hello", objective=99.0)
    analyzer = MetricAnalyzer(window, service="hello", policy=POLICY, slos=[slo])
    before = _exposition({"hello-1": (0, 0, 0.005), "hello-3": (0, 0, 0.005)})
    after = _exposition({"hello-1": (200, 0, 0.005), "hello-3": (70, 30, 0.2)})
    for instance, text in before.items():
        window.ingest(text, at=10.0, labels={"instance": instance, "service": "hello"})
    for instance, text in after.items():
        window.ingest(text, at=20.0, labels={"instance": instance, "service": "hello"})

    analysis = analyzer.compare(["hello-3"], ["hello-1"], over=10.0, now=20.0)

    assert analysis.canary.requests == 100
    assert analysis.canary.errors == 30
    assert analysis.stable.requests == 200
    assert analysis.stable.errors == 0
    assert analysis.canary.p99 is not None
    assert analysis.canary.p99 > 0.1
    assert analysis.stable.p99 is not None
    assert analysis.stable.p99 <= 0.005
    assert analysis.canary.burn["hello-availability"] == pytest.approx(30.0)  # 30% bad / 1% budget
    assert analysis.verdict is Verdict.FAIL
    assert {c.name for c in analysis.checks if c.ok is False} == {"error_rate", "p99", "burn:hello-availability"}
