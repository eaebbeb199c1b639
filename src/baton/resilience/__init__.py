"""Resilience: policies as data, per-target state apart, and the request deadline.

Templates (frozen dataclasses, named in ``baton.yaml``): :class:`RetryPolicy`, :class:`BreakerPolicy`,
:class:`BulkheadPolicy`, :class:`TimeoutPolicy`, bundled in a :class:`Policy`. State: :class:`CircuitBreaker`,
:class:`RetryBudget`, :class:`Bulkhead`, held per target by a :class:`Resilience` registry.
"""

from baton.resilience.breaker import BreakerMetrics, BreakerState, CircuitBreaker
from baton.resilience.bulkhead import Bulkhead
from baton.resilience.clock import MONOTONIC, Clock, ManualClock, MonotonicClock
from baton.resilience.config import PolicySet, parse_duration, policies_from_mapping
from baton.resilience.deadline import DEADLINE_HEADER, DeadlineMiddleware, deadline_scope, remaining
from baton.resilience.policies import (
    DEFAULT_POLICY,
    IDEMPOTENT_METHODS,
    NOOP_POLICY,
    BreakerPolicy,
    BulkheadPolicy,
    Policy,
    RetryPolicy,
    TimeoutPolicy,
)
from baton.resilience.registry import Resilience, TargetState
from baton.resilience.retry import RetryBudget, backoff, backoff_cap, is_retryable_request

__all__ = [
    "DEADLINE_HEADER",
    "DEFAULT_POLICY",
    "IDEMPOTENT_METHODS",
    "MONOTONIC",
    "NOOP_POLICY",
    "BreakerMetrics",
    "BreakerPolicy",
    "BreakerState",
    "Bulkhead",
    "BulkheadPolicy",
    "CircuitBreaker",
    "Clock",
    "DeadlineMiddleware",
    "ManualClock",
    "MonotonicClock",
    "Policy",
    "PolicySet",
    "Resilience",
    "RetryBudget",
    "RetryPolicy",
    "TargetState",
    "TimeoutPolicy",
    "backoff",
    "backoff_cap",
    "deadline_scope",
    "is_retryable_request",
    "parse_duration",
    "policies_from_mapping",
    "remaining",
]
