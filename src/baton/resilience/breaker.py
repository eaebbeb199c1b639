"""The circuit breaker: Resilience4j's state machine, on an injected clock.

::

    CLOSED ──(failure or slow-call rate ≥ threshold over ≥ minimum calls)──▶ OPEN
    OPEN ──(wait elapsed, on the next acquire)──▶ HALF_OPEN
    HALF_OPEN ──(permitted probes recorded, rates below thresholds)──▶ CLOSED
    HALF_OPEN ──(permitted probes recorded, a rate at/above threshold)──▶ OPEN (wait grows by wait_multiplier)
    any ──▶ DISABLED / FORCED_OPEN / FORCED_CLOSED / METRICS_ONLY (operator overrides), reset() ──▶ CLOSED

Callers bracket each call: ``try_acquire()`` (or ``acquire()``), then exactly one of ``on_success(duration)``,
``on_error(duration)`` or ``release()`` (for outcomes that must not count, e.g. a cancelled call).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from baton.errors import CircuitOpen, IllegalStateTransition
from baton.resilience.clock import MONOTONIC, Clock
from baton.resilience.policies import BreakerPolicy
from baton.resilience.window import CountWindow, TimeWindow, Window, WindowTotals


class BreakerState(enum.IntEnum):
    """Breaker states; the integer is what the ``baton_client_breaker_state`` gauge shows."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2
    DISABLED = 3
    FORCED_OPEN = 4
    FORCED_CLOSED = 5
    METRICS_ONLY = 6


@dataclass(frozen=True, slots=True)
class BreakerMetrics:
    """A snapshot of the breaker's current window; rates are -1 until ``minimum_calls`` are buffered."""

    failure_rate: float
    slow_call_rate: float
    buffered: int
    failed: int
    successful: int
    slow: int
    not_permitted: int


_CLOSED, _HALF_OPEN = BreakerState.CLOSED, BreakerState.HALF_OPEN
_RECORDING = frozenset(
    {BreakerState.CLOSED, BreakerState.HALF_OPEN, BreakerState.FORCED_CLOSED, BreakerState.METRICS_ONLY}
)


class CircuitBreaker:
    """Per-target breaker state built from a :class:`BreakerPolicy` template."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        *,
        clock: Clock = MONOTONIC,
        on_transition: Callable[[CircuitBreaker, BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._open_attempts = 0
        self._open_until = 0.0
        self._half_open_permits = 0
        self._not_permitted = 0
        self._window: Window = self._closed_window()
        self._minimum = self._closed_minimum()

    @property
    def state(self) -> BreakerState:
        """The current state (an elapsed OPEN becomes HALF_OPEN only on the next acquire, as in Resilience4j)."""
        return self._state

    def try_acquire(self) -> bool:
        """Whether a call may go ahead now; counts a refusal in ``not_permitted``."""
        state = self._state
        if state is _CLOSED or state in (
            BreakerState.DISABLED,
            BreakerState.FORCED_CLOSED,
            BreakerState.METRICS_ONLY,
        ):
            return True
        if state is BreakerState.OPEN and self._clock.now() >= self._open_until:
            self._enter(BreakerState.HALF_OPEN)
            state = self._state
        if state is BreakerState.HALF_OPEN and self._half_open_permits > 0:
            self._half_open_permits -= 1
            return True
        self._not_permitted += 1
        return False

    def acquire(self) -> None:
        """Like :meth:`try_acquire` but raise when refused.

        Raises:
            CircuitOpen: the breaker is open, forced open, or out of half-open probes.
        """
        # The closed state is the hot path of every client call: answer it before any other dispatch.
        if self._state is _CLOSED:
            return
        if not self.try_acquire():
            raise CircuitOpen(f"circuit of {self.name!r} is {self._state.name}", target=self.name)

    def release(self) -> None:
        """Give back a permission without recording an outcome (the call does not count)."""
        if self._state is BreakerState.HALF_OPEN:
            self._half_open_permits = min(self._half_open_permits + 1, self.policy.permitted_calls_in_half_open)

    def on_success(self, duration: float) -> None:
        """Record a successful call that took ``duration`` seconds."""
        if self._state is _CLOSED and duration < self.policy.slow_call_duration:
            # The common case, inline: a fast success in the closed state only opens the breaker when it
            # brings the window to its minimum with the rates already at a threshold.
            window = self._window
            window.record(failed=False, slow=False)
            if (window.failed or window.slow) and self._exceeded(window):
                self._enter(BreakerState.OPEN)
            return
        self._record(failed=False, duration=duration)

    def on_error(self, duration: float) -> None:
        """Record a failed call that took ``duration`` seconds."""
        self._record(failed=True, duration=duration)

    def metrics(self) -> BreakerMetrics:
        """A snapshot of the current window."""
        totals = self._window.totals()
        failure_rate, slow_rate = self._rates(totals)
        return BreakerMetrics(
            failure_rate=failure_rate,
            slow_call_rate=slow_rate,
            buffered=totals.calls,
            failed=totals.failed,
            successful=totals.successful,
            slow=totals.slow,
            not_permitted=self._not_permitted,
        )

    # Transitions (operator overrides and the ones the machine takes itself).

    def transition_to_open(self) -> None:
        """Open the breaker now (keeps the closed window's metrics for inspection)."""
        self._guard(BreakerState.OPEN)
        self._enter(BreakerState.OPEN)

    def transition_to_half_open(self) -> None:
        """Let probes through now.

        Raises:
            IllegalStateTransition: unless the breaker is OPEN or FORCED_OPEN.
        """
        if self._state not in (BreakerState.OPEN, BreakerState.FORCED_OPEN):
            self._illegal(BreakerState.HALF_OPEN)
        self._enter(BreakerState.HALF_OPEN)

    def transition_to_closed(self) -> None:
        """Close the breaker with a fresh window."""
        self._guard(BreakerState.CLOSED)
        self._enter(BreakerState.CLOSED)

    def transition_to_disabled(self) -> None:
        """Always permit, record nothing."""
        self._guard(BreakerState.DISABLED)
        self._enter(BreakerState.DISABLED)

    def transition_to_forced_open(self) -> None:
        """Always refuse, until another transition."""
        self._guard(BreakerState.FORCED_OPEN)
        self._enter(BreakerState.FORCED_OPEN)

    def transition_to_forced_closed(self) -> None:
        """Always permit, record outcomes, never open."""
        self._guard(BreakerState.FORCED_CLOSED)
        self._enter(BreakerState.FORCED_CLOSED)

    def transition_to_metrics_only(self) -> None:
        """Always permit and record, never open (observe a policy before enforcing it)."""
        self._guard(BreakerState.METRICS_ONLY)
        self._enter(BreakerState.METRICS_ONLY)

    def reset(self) -> None:
        """Back to CLOSED with fresh metrics and no open-wait history."""
        self._open_attempts = 0
        self._enter(BreakerState.CLOSED)

    # Internals.

    def _record(self, *, failed: bool, duration: float) -> None:
        state = self._state
        if state is not _CLOSED and state not in _RECORDING:
            return
        window = self._window
        window.record(failed=failed, slow=duration >= self.policy.slow_call_duration)
        if state is _CLOSED:
            # A window without a failed or slow call cannot reach a threshold (both are > 0): skip the rates.
            if (window.failed or window.slow) and self._exceeded(window):
                self._enter(BreakerState.OPEN)
        elif state is _HALF_OPEN and window.calls >= self._minimum:
            self._enter(BreakerState.OPEN if self._exceeded(window) else BreakerState.CLOSED)

    def _rates(self, totals: WindowTotals | Window) -> tuple[float, float]:
        calls = totals.calls
        if calls < self._minimum or calls == 0:
            return -1.0, -1.0
        return totals.failed * 100.0 / calls, totals.slow * 100.0 / calls

    def _exceeded(self, totals: WindowTotals | Window) -> bool:
        failure_rate, slow_rate = self._rates(totals)
        return failure_rate >= self.policy.failure_rate_threshold or slow_rate >= self.policy.slow_call_rate_threshold

    def _closed_window(self) -> Window:
        if self.policy.window_type == "time":
            return TimeWindow(self.policy.window_size, self._clock)
        return CountWindow(self.policy.window_size)

    def _closed_minimum(self) -> int:
        if self.policy.window_type == "count":
            return min(self.policy.minimum_calls, self.policy.window_size)
        return self.policy.minimum_calls

    def _guard(self, target: BreakerState) -> None:
        if self._state is target:
            self._illegal(target)

    def _illegal(self, target: BreakerState) -> None:
        raise IllegalStateTransition(
            f"circuit breaker {self.name!r} tried an illegal state transition from {self._state.name} to {target.name}"
        )

    def _enter(self, state: BreakerState) -> None:
        previous = self._state
        self._state = state
        self._not_permitted = 0
        if state is BreakerState.OPEN:
            # Keep the window that tripped the breaker (its metrics stay inspectable); only the clock matters now.
            self._open_attempts += 1
            wait = self.policy.wait_in_open * self.policy.wait_multiplier ** (self._open_attempts - 1)
            self._open_until = self._clock.now() + min(wait, self.policy.max_wait_in_open)
        elif state is BreakerState.HALF_OPEN:
            self._window = CountWindow(self.policy.permitted_calls_in_half_open)
            self._minimum = self.policy.permitted_calls_in_half_open
            self._half_open_permits = self.policy.permitted_calls_in_half_open
        else:
            if state is BreakerState.CLOSED:
                self._open_attempts = 0
            self._window = self._closed_window()
            self._minimum = self._closed_minimum()
        if self._on_transition is not None and previous is not state:
            self._on_transition(self, previous, state)
