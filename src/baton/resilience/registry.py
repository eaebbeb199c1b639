"""Per-target resilience state, apart from the policy templates (Dapr's ``pkg/resiliency`` split).

A :class:`Resilience` registry maps each target (a service, or a service route bound to its own policy) to a
:class:`TargetState` holding that target's breaker, retry budget and bulkhead, created lazily from the bound
policy. A client owns one registry; several clients may share one to share breakers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from baton.resilience.breaker import BreakerState, CircuitBreaker
from baton.resilience.bulkhead import Bulkhead
from baton.resilience.clock import MONOTONIC, Clock
from baton.resilience.config import PolicySet
from baton.resilience.policies import Policy
from baton.resilience.retry import RetryBudget

TransitionHook = Callable[[CircuitBreaker, BreakerState, BreakerState], None]


@dataclass(eq=False, slots=True)
class TargetState:
    """The live state of one target; a ``None`` member means the policy has no such layer."""

    key: str
    """``service`` or ``service:/route/prefix``."""
    service: str
    policy: Policy
    breaker: CircuitBreaker | None
    budget: RetryBudget | None
    bulkhead: Bulkhead | None


class Resilience:
    """Holds one :class:`TargetState` per target, created from the bound policies on first use."""

    def __init__(
        self,
        policies: PolicySet | Policy | None = None,
        *,
        clock: Clock = MONOTONIC,
        on_breaker_transition: TransitionHook | None = None,
    ) -> None:
        if isinstance(policies, Policy):
            policies = PolicySet(default=policies)
        self.policies = policies or PolicySet()
        self.clock = clock
        self._on_transition = on_breaker_transition
        self._states: dict[str, TargetState] = {}
        self._routes: dict[str, list[tuple[str, str]]] = {}

    def target(self, service: str, path: str = "/") -> TargetState:
        """The state that governs a call to ``service`` at ``path`` (longest bound route prefix wins)."""
        routes = self._routes.get(service)
        if routes is None:
            routes = self._routes[service] = self.policies.routes_of(service)
        key = service
        for prefix, route_key in routes:
            if path.startswith(prefix):
                key = route_key
                break
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = self._build(key, service)
        return state

    def states(self) -> list[TargetState]:
        """Every target state created so far (for metrics and the dashboard)."""
        return list(self._states.values())

    def _build(self, key: str, service: str) -> TargetState:
        policy = self.policies.policy_of(key)
        return TargetState(
            key=key,
            service=service,
            policy=policy,
            breaker=(
                CircuitBreaker(key, policy.breaker, clock=self.clock, on_transition=self._on_transition)
                if policy.breaker
                else None
            ),
            budget=RetryBudget(policy.retry, clock=self.clock) if policy.retry else None,
            bulkhead=Bulkhead(key, policy.bulkhead) if policy.bulkhead else None,
        )
