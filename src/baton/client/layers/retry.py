"""Retry: which calls may be repeated, which outcomes are retried, and how long to wait before the next try."""

from __future__ import annotations

import random

from baton.client.base import Request
from baton.errors import CallError, RetryBudgetExhausted
from baton.resilience import deadline
from baton.resilience.policies import IDEMPOTENT_METHODS, RetryPolicy
from baton.resilience.retry import backoff, is_retryable_request


class RetryStep:
    """The retry layer's decisions; :class:`~baton.client.chain.Chain` runs the loop.

    Retried: 5xx answers in the policy's ``retryable_statuses`` and retryable errors (timeouts, connect
    errors, no instances). Never retried: 4xx (business errors), an open breaker, a full bulkhead, a spent
    deadline, and requests that are not idempotent unless they carry an ``Idempotency-Key``. When the budget
    is spent a wanted retry is refused: an error becomes :class:`RetryBudgetExhausted`, a 5xx answer is
    returned as it is.
    """

    def __init__(self, policy: RetryPolicy, *, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.statuses = policy.retryable_statuses
        """Answer codes worth another try."""
        self._rng = rng or random.Random()

    def start(self, request: Request) -> int:
        """How many tries this call may take: 1 when it must not be retried (policy, per-call option,
        idempotency); otherwise the call is counted in the target's retry budget."""
        budget = request.target.budget
        wanted = request.options.retry
        if (
            budget is None
            or self.policy.max_attempts == 1
            or wanted is False
            or (
                wanted is None
                and request.method not in IDEMPOTENT_METHODS
                and not is_retryable_request(request.method, request.headers)
            )
        ):
            return 1
        budget.on_request()
        return self.policy.max_attempts

    def pause(self, request: Request, attempt: int, failure: CallError | None) -> float | None:
        """Seconds to sleep before try ``attempt + 1``, withdrawn from the budget; ``None``: do not retry.

        Raises:
            RetryBudgetExhausted: ``failure`` would be retried but the target's budget is spent.
        """
        target = request.target
        budget = target.budget
        assert budget is not None  # start() returned more than one try
        delay = backoff(self.policy, attempt, self._rng)
        left = deadline.remaining()
        if left is not None and delay >= left:
            # Sleeping would spend the caller's whole budget: report the real failure instead.
            return None
        if not budget.try_withdraw():
            if failure is not None:
                raise RetryBudgetExhausted(
                    f"retry budget of {target.key!r} is spent; last error: {failure.message}", target=target.key
                ) from failure
            return None
        return delay
