"""Restart backoff: 0.5 s doubling to a 30 s cap, reset after stable running, crash-loop verdict."""

from __future__ import annotations

import pytest

from baton.control.backoff import RestartPolicy, RestartTracker


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 16.0), (7, 30.0), (20, 30.0)],
)
def test_default_schedule_doubles_from_half_a_second_up_to_the_cap(failures: int, delay: float) -> None:
    assert RestartPolicy().delay(failures) == delay


def test_tracker_counts_consecutive_and_total_failures() -> None:
    tracker = RestartTracker(RestartPolicy())
    assert [tracker.failed(now) for now in (0.0, 1.0, 2.0)] == [0.5, 1.0, 2.0]
    assert (tracker.consecutive, tracker.total) == (3, 3)


def test_stable_running_resets_the_backoff_but_not_the_restart_count() -> None:
    tracker = RestartTracker(RestartPolicy(stable_after=10.0))
    tracker.failed(0.0)
    tracker.failed(1.0)
    tracker.healthy_since(2.0, now=5.0)
    assert tracker.consecutive == 2  # not stable long enough yet
    tracker.healthy_since(2.0, now=12.0)
    assert tracker.consecutive == 0
    assert tracker.failed(13.0) == 0.5
    assert tracker.total == 3


def test_crashloop_after_k_restarts_within_the_window_and_not_outside_it() -> None:
    tracker = RestartTracker(RestartPolicy(crashloop_restarts=3, crashloop_window=10.0))
    tracker.failed(0.0)
    tracker.failed(1.0)
    assert not tracker.crashlooping(1.0)
    tracker.failed(2.0)
    assert tracker.crashlooping(2.0)
    assert not tracker.crashlooping(11.5)  # the first two failures left the window
