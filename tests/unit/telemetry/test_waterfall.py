"""The terminal waterfall of ``baton trace``."""

from __future__ import annotations

import pytest
from rich.console import Console

from baton.telemetry.waterfall import format_duration, ordered_tree, waterfall

from .conftest import span


def render(table) -> list[str]:
    console = Console(width=120, record=True, color_system=None)
    console.print(table)
    return console.export_text().splitlines()


TRACE = [
    span("t", "4", "2", name="INSERT orders", service="order", start_ms=20, duration_ms=10),
    span("t", "1", name="POST /api/orders", service="gateway", start_ms=0, duration_ms=400),
    span("t", "3", "2", name="POST /v1/payments", service="payment", start_ms=50, duration_ms=300, error=True),
    span("t", "2", "1", name="POST /v1/orders", service="order", start_ms=10, duration_ms=380),
]


def test_spans_are_nested_under_their_parents_in_start_order():
    order = [(depth, s.name) for depth, s in ordered_tree(TRACE)]

    assert order == [
        (0, "POST /api/orders"),
        (1, "POST /v1/orders"),
        (2, "INSERT orders"),
        (2, "POST /v1/payments"),
    ]


def test_orphans_and_cycles_are_drawn_once_at_the_top():
    cyclic = [span("t", "1", "2", name="a", start_ms=0), span("t", "2", "1", name="b", start_ms=1)]
    orphan = [span("t", "9", "8", name="orphan")]

    assert [s.name for _, s in ordered_tree(orphan)] == ["orphan"]
    assert [s.name for _, s in ordered_tree(cyclic)] == []  # no root at all: nothing to anchor a waterfall


def test_the_waterfall_shows_services_indented_operations_durations_and_bars():
    lines = render(waterfall(TRACE, width=40))

    assert "0 ─ 400.0ms" in lines[0]
    gateway, order, insert, payment = lines[1:5]
    assert gateway.split()[:3] == ["gateway", "POST", "/api/orders"]
    assert "  POST /v1/orders" in order
    assert "    INSERT orders" in insert
    assert "POST /v1/payments ✗" in payment
    assert "300.0ms" in payment
    # The root's bar spans the full width; the payment call starts an eighth of the way in.
    assert gateway.count("█") == 40
    assert payment.index("█") - gateway.index("█") == 5
    assert payment.count("█") == 30


def test_an_empty_trace_says_so():
    assert any("no spans stored" in line for line in render(waterfall([])))


@pytest.mark.parametrize(
    ("ns", "text"), [(850_000, "850µs"), (412_000_000, "412.0ms"), (1_250_000_000, "1.25s"), (0, "0µs")]
)
def test_durations_read_naturally(ns, text):
    assert format_duration(ns) == text
