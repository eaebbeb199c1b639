"""Resilience policies: frozen dataclasses with documented defaults (data, never state).

A :class:`Policy` bundles one template per layer; a layer set to ``None`` is a no-op ("call directly").
Per-target state (breaker counters, budgets, bulkhead slots) lives in :mod:`baton.resilience.registry`,
apart from these templates, as in Dapr's ``pkg/resiliency``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""Methods RFC 9110 defines as idempotent: safe to retry without an ``Idempotency-Key``."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how often a failed try is repeated (exponential backoff with full jitter, under a budget)."""

    max_attempts: int = 3
    """Total tries including the first one (1 disables retries)."""
    initial_backoff: float = 0.025
    """Seconds; the cap of the first backoff (the actual sleep is uniform in ``[0, cap]``: full jitter)."""
    max_backoff: float = 1.0
    """Seconds; the backoff cap never grows beyond this."""
    multiplier: float = 2.0
    """Growth of the backoff cap per retry."""
    retryable_statuses: frozenset[int] = frozenset({500, 502, 503, 504})
    """Answer codes that are retried (4xx never are: they are business errors)."""
    budget_ratio: float = 0.2
    """Retries may add at most this share of the target's requests in the budget window (Linkerd: 20%)."""
    budget_min_per_second: float = 10.0
    """Retries per second always allowed regardless of traffic, so low-traffic targets can still retry."""
    budget_window: float = 10.0
    """Seconds over which requests and retries are counted for the budget."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff:
            raise ValueError("need 0 <= initial_backoff <= max_backoff")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")
        if self.budget_ratio < 0 or self.budget_window <= 0 or self.budget_min_per_second < 0:
            raise ValueError("budget_ratio, budget_min_per_second must be >= 0 and budget_window > 0")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """A circuit breaker with Resilience4j semantics (sliding window, failure and slow-call rates)."""

    window_type: Literal["count", "time"] = "count"
    """``count``: the last ``window_size`` calls; ``time``: the calls of the last ``window_size`` seconds."""
    window_size: int = 100
    """Calls (count window) or seconds (time window). Large on purpose: when one replica dies with many calls
    in flight they all fail at once; outlier ejection handles that replica, and a small window would open the
    breaker for the whole target although the other replicas are fine."""
    minimum_calls: int = 20
    """Calls needed in the window before rates are computed (below it the rates are -1 and never trip)."""
    failure_rate_threshold: float = 50.0
    """Percent; at or above it the breaker opens."""
    slow_call_rate_threshold: float = 100.0
    """Percent of slow calls at or above which the breaker opens (100 = only when every call is slow)."""
    slow_call_duration: float = 5.0
    """Seconds; a call lasting at least this long is slow."""
    wait_in_open: float = 5.0
    """Seconds the breaker stays open before it lets probes through (half-open)."""
    wait_multiplier: float = 1.0
    """Growth of the open wait each time the breaker re-opens without closing in between (1 = constant)."""
    max_wait_in_open: float = 60.0
    """Seconds; the open wait never grows beyond this."""
    permitted_calls_in_half_open: int = 3
    """Probes allowed in half-open; their outcome decides between closed and open."""

    def __post_init__(self) -> None:
        if self.window_type not in ("count", "time"):
            raise ValueError("window_type must be 'count' or 'time'")
        if self.window_size < 1 or self.minimum_calls < 1 or self.permitted_calls_in_half_open < 1:
            raise ValueError("window_size, minimum_calls and permitted_calls_in_half_open must be >= 1")
        for rate in (self.failure_rate_threshold, self.slow_call_rate_threshold):
            if not 0 < rate <= 100:
                raise ValueError("rate thresholds are percents in (0, 100]")
        if self.wait_in_open < 0 or self.wait_multiplier < 1:
            raise ValueError("wait_in_open must be >= 0 and wait_multiplier >= 1")


@dataclass(frozen=True, slots=True)
class BulkheadPolicy:
    """A per-target concurrency limit with a bounded waiting queue."""

    max_concurrent: int = 64
    """Calls in flight to the target at once."""
    max_queue: int = 128
    """Calls allowed to wait for a slot; one more is rejected at once with ``BulkheadFull``."""
    max_wait: float = 1.0
    """Seconds a call may wait in the queue (also bounded by the request deadline)."""

    def __post_init__(self) -> None:
        if self.max_concurrent < 1 or self.max_queue < 0 or self.max_wait < 0:
            raise ValueError("need max_concurrent >= 1, max_queue >= 0, max_wait >= 0")


@dataclass(frozen=True, slots=True)
class TimeoutPolicy:
    """A per-try timeout inside an overall deadline."""

    per_try: float = 2.0
    """Seconds one try (connect, send, read the whole answer) may take."""
    total: float = 10.0
    """Seconds the whole call (all tries and backoffs) may take when the caller set no tighter deadline."""

    def __post_init__(self) -> None:
        if self.per_try <= 0 or self.total <= 0:
            raise ValueError("timeouts must be > 0")


@dataclass(frozen=True, slots=True)
class Policy:
    """One named bundle of layer templates; ``None`` for a layer means "no such layer, call directly"."""

    name: str = "default"
    retry: RetryPolicy | None = field(default_factory=RetryPolicy)
    breaker: BreakerPolicy | None = field(default_factory=BreakerPolicy)
    bulkhead: BulkheadPolicy | None = field(default_factory=BulkheadPolicy)
    timeout: TimeoutPolicy | None = field(default_factory=TimeoutPolicy)


DEFAULT_POLICY = Policy()
"""Every layer on with its documented defaults."""
NOOP_POLICY = Policy(name="none", retry=None, breaker=None, bulkhead=None, timeout=None)
"""No layer at all: the call goes straight to a balanced instance."""
