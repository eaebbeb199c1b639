"""Retry layer: repeat failed tries of safe requests, with full-jitter backoff, within the target's budget."""

from __future__ import annotations

import asyncio
import random

from baton.client.base import Handler, Request
from baton.client.response import Response
from baton.errors import CallError, RetryBudgetExhausted
from baton.resilience import deadline
from baton.resilience.retry import backoff, is_retryable_request


class RetryLayer:
    """Retries 5xx answers and retryable errors (timeouts, connect errors, no instances).

    Never retried: 4xx (business errors), an open breaker, a full bulkhead, a spent deadline, and requests
    that are not idempotent unless they carry an ``Idempotency-Key``. When the budget is spent a wanted retry
    is refused: an error becomes :class:`RetryBudgetExhausted`, a 5xx answer is returned as it is.
    """

    def __init__(self, next: Handler, *, rng: random.Random | None = None) -> None:
        self.next = next
        self._rng = rng or random.Random()

    async def handle(self, request: Request) -> Response:
        """Try, and retry while the policy, the budget and the deadline allow."""
        target = request.target
        policy = target.policy.retry
        budget = target.budget
        if (
            policy is None
            or budget is None
            or policy.max_attempts == 1
            or request.options.retry is False
            or (request.options.retry is None and not is_retryable_request(request.method, request.headers))
        ):
            return await self.next.handle(request)
        budget.on_request()
        attempt = 1
        while True:
            request.attempt = attempt
            failure: CallError | None = None
            try:
                response = await self.next.handle(request)
            except CallError as exc:
                if not exc.retryable or attempt >= policy.max_attempts:
                    raise
                failure = exc
            else:
                if response.status not in policy.retryable_statuses or attempt >= policy.max_attempts:
                    return response
            delay = backoff(policy, attempt, self._rng)
            left = deadline.remaining()
            if left is not None and delay >= left:
                # Sleeping would spend the caller's whole budget: report the real failure instead.
                if failure is not None:
                    raise failure
                return response
            if not budget.try_withdraw():
                if failure is not None:
                    raise RetryBudgetExhausted(
                        f"retry budget of {target.key!r} is spent; last error: {failure.message}",
                        target=target.key,
                    ) from failure
                return response
            await asyncio.sleep(delay)
            attempt += 1
