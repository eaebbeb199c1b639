"""Outlier ejection rules: 5 in a row, never more than half, longer on repeat, back after the time."""

from __future__ import annotations

import pytest

from baton.balancing import OutlierDetector, OutlierPolicy
from baton.discovery import Instance
from baton.resilience import ManualClock

POOL = [Instance(service="svc", id=f"svc-{n}", host="127.0.0.1", port=9000 + n) for n in range(4)]
A, B, C, D = POOL


def fail(detector: OutlierDetector, instance: Instance, times: int, pool=POOL) -> list[bool]:
    return [detector.record(instance, failed=True, pool=pool) for _ in range(times)]


def test_five_consecutive_failures_eject() -> None:
    clock = ManualClock()
    detector = OutlierDetector(OutlierPolicy(), clock=clock)
    assert fail(detector, A, 5) == [False, False, False, False, True]
    assert detector.is_ejected(A)
    assert detector.available(POOL) == [B, C, D]


def test_a_success_resets_the_streak() -> None:
    detector = OutlierDetector(clock=ManualClock())
    fail(detector, A, 4)
    detector.record(A, failed=False, pool=POOL)
    assert fail(detector, A, 4) == [False] * 4
    assert not detector.is_ejected(A)


@pytest.mark.parametrize(
    ("pool_size", "max_percent", "ejectable"),
    [(4, 50, 2), (3, 50, 1), (2, 50, 1), (1, 50, 0), (10, 10, 1), (4, 100, 4)],
)
def test_never_more_than_max_ejection_percent(pool_size, max_percent, ejectable) -> None:
    pool = [Instance(service="svc", id=f"i{n}", host="h", port=n + 1) for n in range(pool_size)]
    detector = OutlierDetector(OutlierPolicy(max_ejection_percent=max_percent), clock=ManualClock())
    for instance in pool:
        fail(detector, instance, 5, pool)
    assert sum(detector.is_ejected(i) for i in pool) == ejectable
    assert detector.available(pool)  # never empty


def test_ejection_lasts_longer_on_repeat_and_is_capped() -> None:
    clock = ManualClock()
    events: list[tuple[str, float]] = []
    policy = OutlierPolicy(base_ejection=30, max_ejection=75)
    detector = OutlierDetector(policy, clock=clock, on_eject=lambda i, s: events.append((i.id, s)))
    for _ in range(3):
        fail(detector, A, 5)
        assert detector.is_ejected(A)
        clock.advance(events[-1][1] - 0.001)
        assert detector.is_ejected(A)
        clock.advance(0.002)
        assert not detector.is_ejected(A)  # back in rotation by itself
    assert events == [("svc-0", 30), ("svc-0", 60), ("svc-0", 75)]


def test_long_healthy_period_resets_the_multiplier() -> None:
    clock = ManualClock()
    seconds: list[float] = []
    detector = OutlierDetector(
        OutlierPolicy(base_ejection=10, max_ejection=100), clock=clock, on_eject=lambda i, s: seconds.append(s)
    )
    fail(detector, A, 5)
    clock.advance(10 + 101)
    fail(detector, A, 5)
    assert seconds == [10, 10]


def test_forget_drops_state_of_departed_instances() -> None:
    detector = OutlierDetector(clock=ManualClock())
    fail(detector, A, 5)
    detector.forget([B, C])
    assert not detector.is_ejected(A)
