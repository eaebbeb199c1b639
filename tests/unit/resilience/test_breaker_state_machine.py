"""Resilience4j's CircuitBreakerStateMachineTest scenarios, table-driven on a manual clock.

Config as in that test: failure rate 50%, 4 probes in half-open, slow call = 4 s at 50%, a 5-second time
window needing 5 calls, 5 s open. Steps are tuples; ``("m", rate, ok, buffered, failed, not_permitted)``
checks the metrics the way R4j's ``assertCircuitBreakerMetricsEqualTo`` does.
"""

from __future__ import annotations

import pytest

from baton.errors import CircuitOpen, IllegalStateTransition
from baton.resilience import BreakerPolicy, BreakerState, CircuitBreaker, ManualClock

C, OPEN, H = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
R4J = BreakerPolicy(
    window_type="time",
    window_size=5,
    minimum_calls=5,
    failure_rate_threshold=50,
    slow_call_rate_threshold=50,
    slow_call_duration=4.0,
    wait_in_open=5.0,
    permitted_calls_in_half_open=4,
)
GROWING = BreakerPolicy(
    window_type="count", window_size=5, minimum_calls=5, permitted_calls_in_half_open=4,
    wait_in_open=5.0, wait_multiplier=1.5,
)  # fmt: skip
RESET = ("m", -1.0, 0, 0, 0, 0)

SCENARIOS = {
    "open_state_rejects_and_counts": [("to", "open"), ("acquire", False), ("m", -1.0, 0, 0, 0, 1)],
    "forced_open_rejects_and_counts": [("to", "forced_open"), ("acquire", False), ("m", -1.0, 0, 0, 0, 1)],
    "release_gives_a_probe_back": [
        ("to", "open"), ("to", "half_open"),
        *[("acquire", True)] * 4, ("acquire", False), ("acquire", False),
        ("release",), ("acquire", True),
    ],
    "only_four_probes_in_half_open_each_time": [
        RESET, ("to", "open"), ("to", "half_open"), ("state", H),
        *[("acquire", True)] * 4, ("acquire", False), ("acquire", False),
        ("to", "open"), ("to", "half_open"),
        *[("acquire", True)] * 4, ("acquire", False), ("acquire", False),
    ],
    "opens_after_failure_rate_threshold_exceeded": [
        ("acquire", True), ("state", C), RESET,
        ("error", 0), ("state", C), ("m", -1.0, 0, 1, 1, 0),
        ("error", 0), ("state", C), ("m", -1.0, 0, 2, 2, 0),
        ("error", 0), ("state", C), ("m", -1.0, 0, 3, 3, 0),
        ("success", 0), ("state", C), ("m", -1.0, 1, 4, 3, 0),
        ("success", 0), ("state", OPEN), ("m", 60.0, 2, 5, 3, 0),
        ("acquire", False), ("m", 60.0, 2, 5, 3, 1),
    ],
    "opens_after_slow_call_rate_threshold_exceeded": [
        ("error", 5), ("success", 5), ("error", 0.1), ("success", 0.1), ("state", C),
        ("success", 5), ("state", OPEN), ("slow", 3, 60.0),
    ],
    "half_open_after_wait_duration": [
        ("to", "open"), RESET, ("acquire", False),
        ("advance", 3), ("state", OPEN), ("acquire", False), ("m", -1.0, 0, 0, 0, 2),
        ("advance", 3), ("acquire", True), ("state", H), RESET,
    ],
    "back_to_open_when_failure_rate_above_threshold": [
        ("to", "open"), ("to", "half_open"), RESET,
        ("acquire", True), ("error", 0), ("acquire", True), ("error", 0),
        ("acquire", True), ("success", 0), ("acquire", True), ("error", 0),
        ("state", OPEN), ("m", 75.0, 1, 4, 3, 0),
    ],
    "back_to_open_when_slow_call_rate_above_threshold": [
        ("to", "open"), ("to", "half_open"),
        ("success", 5), ("success", 5), ("success", 5), ("success", 1),
        ("state", OPEN), ("slow", 3, 75.0), ("failure_rate", 0.0),
    ],
    "back_to_closed_when_failure_rate_below_threshold": [
        ("to", "open"), ("to", "half_open"), RESET,
        ("acquire", True), ("error", 0),
        *[("acquire", True), ("success", 0)] * 3,
        ("acquire", True), ("state", C), RESET,
        ("acquire", True), ("success", 0), ("m", -1.0, 1, 1, 0, 0),
    ],
    "reset_clears_metrics": [("success", 0), ("error", 0), ("m", -1.0, 1, 2, 1, 0), ("reset",), RESET],
    "disabled_permits_and_records_nothing": [
        ("to", "disabled"), ("state", BreakerState.DISABLED), RESET,
        *[("acquire", True), ("error", 0)] * 4, ("success", 0), RESET,
    ],
    "forced_open_ignores_wait_duration": [
        ("to", "forced_open"), ("acquire", False), ("advance", 6), ("acquire", False),
        ("state", BreakerState.FORCED_OPEN), ("m", -1.0, 0, 0, 0, 2),
    ],
    "forced_closed_records_but_never_opens": [
        ("to", "forced_closed"),
        *[("acquire", True), ("error", 0)] * 6, ("acquire", True), ("success", 1),
        ("state", BreakerState.FORCED_CLOSED), ("counts", 1, 6),
    ],
    "released_permission_counts_nothing_then_failure_closes": [
        ("to", "open"), ("to", "half_open"),
        ("acquire", True), ("success", 0), ("state", H), ("m", -1.0, 1, 1, 0, 0),
        ("acquire", True), ("success", 0), ("m", -1.0, 2, 2, 0, 0),
        ("acquire", True), ("success", 0), ("m", -1.0, 3, 3, 0, 0),
        ("acquire", True), ("release",), ("state", H), ("m", -1.0, 3, 3, 0, 0),
        ("acquire", True), ("error", 0), ("state", C), RESET,
    ],
    "ignored_outcomes_then_transition_to_closed": [
        ("to", "open"), ("to", "half_open"),
        *[("acquire", True), ("release",)] * 4, ("state", H), RESET,
        *[("acquire", True), ("success", 0)] * 3, ("state", H), ("m", -1.0, 3, 3, 0, 0),
        ("acquire", True), ("success", 0), ("state", C), RESET,
    ],
    "closed_to_half_open_is_illegal": [("illegal", "half_open"), ("state", C)],
    "closed_to_closed_is_illegal": [("illegal", "closed"), ("state", C)],
    "reset_from_open_closes": [("to", "open"), ("reset",), ("state", C)],
    "reset_closed_state_clears_counts": [
        ("success", 0), ("success", 0), ("counts", 2, 0), ("reset",), ("counts", 0, 0),
    ],
    "metrics_only_transition_resets_metrics": [
        ("success", 0), ("success", 0), ("counts", 2, 0), ("to", "metrics_only"),
        ("state", BreakerState.METRICS_ONLY), ("counts", 0, 0),
    ],
    "metrics_only_records_and_never_opens": [
        ("to", "metrics_only"), RESET,
        ("error", 0), ("m", -1.0, 0, 1, 1, 0), ("error", 0), ("error", 0), ("success", 0),
        ("success", 0), ("state", BreakerState.METRICS_ONLY), ("m", 60.0, 2, 5, 3, 0),
        ("error", 0), ("state", BreakerState.METRICS_ONLY),
    ],
    "time_window_forgets_old_failures": [
        ("error", 0), ("error", 0), ("error", 0), ("advance", 5),
        ("success", 0), ("success", 0), ("m", -1.0, 2, 2, 0, 0), ("state", C),
    ],
}  # fmt: skip


def run(breaker: CircuitBreaker, clock: ManualClock, steps: list[tuple]) -> None:
    for n, step in enumerate(steps):
        kind, *args = step
        where = f"step {n} {step}"
        if kind == "acquire":
            assert breaker.try_acquire() is args[0], where
        elif kind == "success":
            breaker.on_success(args[0])
        elif kind == "error":
            breaker.on_error(args[0])
        elif kind == "release":
            breaker.release()
        elif kind == "advance":
            clock.advance(args[0])
        elif kind == "to":
            getattr(breaker, f"transition_to_{args[0]}")()
        elif kind == "illegal":
            with pytest.raises(IllegalStateTransition, match=f"from CLOSED to {args[0].upper()}"):
                getattr(breaker, f"transition_to_{args[0]}")()
        elif kind == "reset":
            breaker.reset()
        elif kind == "state":
            assert breaker.state is args[0], where
        elif kind == "m":
            m = breaker.metrics()
            got = (m.failure_rate, m.successful, m.buffered, m.failed, m.not_permitted)
            assert got == tuple(args), where
        elif kind == "slow":
            m = breaker.metrics()
            assert (m.slow, m.slow_call_rate) == tuple(args), where
        elif kind == "failure_rate":
            assert breaker.metrics().failure_rate == args[0], where
        elif kind == "counts":
            m = breaker.metrics()
            assert (m.successful, m.failed) == tuple(args), where
        else:  # pragma: no cover - a typo in the table
            raise AssertionError(f"unknown step {step}")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_state_machine_scenario(name: str) -> None:
    clock = ManualClock()
    run(CircuitBreaker("testName", R4J, clock=clock), clock, SCENARIOS[name])


def test_open_wait_grows_on_repeat_and_resets_when_closed() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("testName", GROWING, clock=clock)
    run(breaker, clock, [
        ("to", "open"), ("advance", 3), ("acquire", False), ("advance", 3), ("acquire", True), ("state", H),
        ("to", "open"), ("advance", 6), ("acquire", False), ("state", OPEN),  # 7.5 s now
        ("advance", 5), ("acquire", True), ("state", H),
        *[("success", 0)] * 4, ("state", C),
        ("to", "open"), ("advance", 5), ("acquire", True), ("state", H),  # back to 5 s after closing
    ])  # fmt: skip


def test_acquire_raises_circuit_open_naming_the_target() -> None:
    breaker = CircuitBreaker("inventory", R4J, clock=ManualClock())
    breaker.transition_to_open()
    with pytest.raises(CircuitOpen, match="inventory"):
        breaker.acquire()


def test_count_window_keeps_only_the_last_calls() -> None:
    policy = BreakerPolicy(window_type="count", window_size=4, minimum_calls=4, failure_rate_threshold=75)
    breaker = CircuitBreaker("t", policy, clock=ManualClock())
    for failed in (True, True, False, False, False):
        (breaker.on_error if failed else breaker.on_success)(0)
    m = breaker.metrics()
    assert (m.buffered, m.failed, m.failure_rate) == (4, 1, 25.0)
    assert breaker.state is C


def test_transitions_are_reported() -> None:
    seen = []
    breaker = CircuitBreaker("t", R4J, clock=ManualClock(), on_transition=lambda b, old, new: seen.append((old, new)))
    breaker.transition_to_open()
    breaker.transition_to_half_open()
    assert seen == [(C, OPEN), (OPEN, H)]
