"""Retry arithmetic: which requests may repeat, backoff bounds (full jitter) and the budget."""

from __future__ import annotations

import random

import pytest

from baton.resilience import ManualClock, RetryBudget, RetryPolicy, backoff, backoff_cap, is_retryable_request


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("GET", None, True),
        ("head", None, True),
        ("PUT", {}, True),
        ("DELETE", {}, True),
        ("POST", None, False),
        ("PATCH", {"X-Other": "1"}, False),
        ("POST", {"Idempotency-Key": "k1"}, True),
        ("POST", {"idempotency-key": "k1"}, True),
    ],
)
def test_retryable_requests(method, headers, expected) -> None:
    assert is_retryable_request(method, headers) is expected


@pytest.mark.parametrize(
    ("retry", "cap"), [(1, 0.025), (2, 0.05), (3, 0.1), (4, 0.2), (5, 0.4), (6, 0.8), (7, 1.0), (20, 1.0)]
)
def test_backoff_cap_grows_exponentially_up_to_max(retry, cap) -> None:
    assert backoff_cap(RetryPolicy(), retry) == pytest.approx(cap)


def test_full_jitter_stays_within_zero_and_cap_and_spreads() -> None:
    policy = RetryPolicy(initial_backoff=0.1, max_backoff=2.0)
    rng = random.Random(7)
    for retry in (1, 2, 3, 6):
        samples = [backoff(policy, retry, rng) for _ in range(500)]
        cap = backoff_cap(policy, retry)
        assert all(0.0 <= s <= cap for s in samples)
        # Full jitter: samples cover the range, not a band around the cap.
        assert min(samples) < cap * 0.1
        assert max(samples) > cap * 0.9


def test_backoff_rejects_retry_zero() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        backoff_cap(RetryPolicy(), 0)


def test_budget_floor_allows_min_per_second_times_window_without_traffic() -> None:
    clock = ManualClock()
    budget = RetryBudget(RetryPolicy(budget_min_per_second=2, budget_window=10), clock=clock)
    granted = sum(budget.try_withdraw() for _ in range(50))
    assert granted == 20


def test_budget_adds_ratio_of_requests() -> None:
    clock = ManualClock()
    budget = RetryBudget(RetryPolicy(budget_ratio=0.2, budget_min_per_second=0, budget_window=10), clock=clock)
    for _ in range(100):
        budget.on_request()
    assert budget.allowance() == pytest.approx(20)
    granted = sum(budget.try_withdraw() for _ in range(100))
    assert granted == 20
    assert budget.counts() == (100, 20)


def test_budget_recovers_when_the_window_slides() -> None:
    clock = ManualClock()
    budget = RetryBudget(RetryPolicy(budget_ratio=0.0, budget_min_per_second=1, budget_window=10), clock=clock)
    assert sum(budget.try_withdraw() for _ in range(30)) == 10
    assert budget.try_withdraw() is False
    clock.advance(10.0)
    assert budget.counts() == (0, 0)
    assert sum(budget.try_withdraw() for _ in range(30)) == 10


def test_budget_window_forgets_gradually() -> None:
    clock = ManualClock(start=0.0)
    budget = RetryBudget(RetryPolicy(budget_window=10), clock=clock)
    budget.on_request()
    clock.advance(5)
    budget.on_request()
    assert budget.counts()[0] == 2
    clock.advance(5)  # the first request is now 10 s old
    assert budget.counts()[0] == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"initial_backoff": 2.0, "max_backoff": 1.0}, {"multiplier": 0.5}, {"budget_window": 0}],
)
def test_invalid_retry_policies_are_refused(kwargs) -> None:
    with pytest.raises(ValueError, match=r"must be|need"):
        RetryPolicy(**kwargs)
