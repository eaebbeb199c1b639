"""Parsing the ``slos:`` section of baton.yaml into SLO objects."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from baton.errors import ConfigError
from baton.telemetry.slo import DEFAULT_RULES, SLO, parse_duration, slos_from_mapping


def test_the_seed_checkout_objective():
    (slo,) = slos_from_mapping(
        [
            {
                "name": "checkout-latency",
                "service": "order",
                "route": "/v1/checkout",
                "objective": 99.0,
                "latency_ms": 300,
                "window": "30d",
                "runbook": "https://runbooks.example/checkout",
            }
        ]
    )

    assert slo == SLO(
        name="checkout-latency",
        service="order",
        route="/v1/checkout",
        objective=99.0,
        sli="latency",
        threshold=0.3,
        window=30 * 86400,
        runbook="https://runbooks.example/checkout",
    )
    assert slo.budget == pytest.approx(0.01)
    assert slo.latency_bound == 0.25


@pytest.mark.parametrize(
    ("raw", "field", "value"),
    [
        ({"name": "a", "service": "s"}, "sli", "availability"),
        ({"name": "a", "service": "s"}, "objective", 99.9),
        ({"name": "a", "service": "s"}, "window", 30 * 86400),
        ({"name": "a", "service": "s", "threshold": "250ms"}, "sli", "latency"),
        ({"name": "a", "service": "s", "threshold": 0.25}, "threshold", 0.25),
        ({"name": "a", "service": "s", "latency_ms": "300"}, "threshold", 0.3),
        ({"name": "a", "service": "s", "window": "7d"}, "window", 7 * 86400),
        ({"name": "a", "service": "s", "window": 3600}, "window", 3600),
        ({"name": "a", "service": "s", "objective": 95}, "objective", 95.0),
    ],
)
def test_defaults_and_spellings(raw, field, value):
    (slo,) = slos_from_mapping([raw])

    assert getattr(slo, field) == value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"service": "s"}, "slos[0].name: required"),
        ({"name": "a"}, "slos[0].service: required"),
        ({"name": "a", "service": "s", "objective": 100}, "between 0 and 100"),
        ({"name": "a", "service": "s", "objective": "high"}, "objective"),
        ({"name": "a", "service": "s", "sli": "latency"}, "positive threshold"),
        ({"name": "a", "service": "s", "sli": "freshness"}, "sli"),
        ({"name": "a", "service": "s", "window": "a month"}, "slos[0].window"),
        ({"name": "a", "service": "s", "latncy_ms": 300}, "unknown keys ['latncy_ms']"),
        ("checkout", "expected a mapping"),
    ],
)
def test_invalid_entries_say_where_and_what(raw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        slos_from_mapping([raw])


def test_duplicate_names_are_refused():
    with pytest.raises(ConfigError, match="duplicate"):
        slos_from_mapping([{"name": "a", "service": "s"}, {"name": "a", "service": "t"}])


def test_the_manifests_pydantic_models_are_accepted():
    class SloSpec(BaseModel):  # the manifest's shape (baton.control.manifest.sections.SloSpec)
        name: str
        service: str
        sli: str = "availability"
        objective: float = 99.9
        threshold: float | None = None
        route: str | None = None
        window: float = 30 * 86400.0
        runbook: str | None = None

    (slo,) = slos_from_mapping([SloSpec(name="l", service="order", sli="latency", threshold=0.5)])

    assert (slo.sli, slo.threshold, slo.latency_bound) == ("latency", 0.5, 0.5)


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("30s", 30), ("5m", 300), ("6h", 21600), ("2w", 1209600), (7, 7)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_the_default_rules_are_the_sre_workbook_table():
    table = [(r.severity, r.long_window / 3600, r.short_window / 60, r.factor) for r in DEFAULT_RULES]

    assert table == [("page", 1, 5, 14.4), ("page", 6, 30, 6), ("ticket", 24, 120, 3), ("ticket", 72, 360, 1)]
