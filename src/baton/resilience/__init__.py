"""Resilience: policies as data, per-target state apart, and the request deadline.

Templates (frozen dataclasses, named in ``baton.yaml``): :class:`RetryPolicy`, :class:`BreakerPolicy`,
:class:`BulkheadPolicy`, :class:`TimeoutPolicy`, bundled in a :class:`Policy`. State: :class:`CircuitBreaker`,
:class:`RetryBudget`, :class:`Bulkhead`, held per target by a :class:`Resilience` registry.

The names below are imported on first use (PEP 562): every service loads :mod:`.deadline` for its middleware
and should not pay for the breaker, bulkhead and config parser with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from baton._lazy import lazy_exports

if TYPE_CHECKING:
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

_HOMES = {
    "BreakerMetrics": "breaker",
    "BreakerState": "breaker",
    "CircuitBreaker": "breaker",
    "Bulkhead": "bulkhead",
    "MONOTONIC": "clock",
    "Clock": "clock",
    "ManualClock": "clock",
    "MonotonicClock": "clock",
    "PolicySet": "config",
    "parse_duration": "config",
    "policies_from_mapping": "config",
    "DEADLINE_HEADER": "deadline",
    "DeadlineMiddleware": "deadline",
    "deadline_scope": "deadline",
    "remaining": "deadline",
    "DEFAULT_POLICY": "policies",
    "IDEMPOTENT_METHODS": "policies",
    "NOOP_POLICY": "policies",
    "BreakerPolicy": "policies",
    "BulkheadPolicy": "policies",
    "Policy": "policies",
    "RetryPolicy": "policies",
    "TimeoutPolicy": "policies",
    "Resilience": "registry",
    "TargetState": "registry",
    "RetryBudget": "retry",
    "backoff": "retry",
    "backoff_cap": "retry",
    "is_retryable_request": "retry",
}


__getattr__, __dir__ = lazy_exports(__name__, __all__, _HOMES)
