"""The layer order, written once.

    deadline ▸ retry (budget) ▸ breaker ▸ bulkhead ▸ balance (+ outlier ejection) ▸ per-try timeout
             ▸ headers (trace, correlation, deadline, token) ▸ send

Why this order:
* **deadline** is outermost so every try, backoff and queue wait spends one budget.
* **retry** sits outside the breaker so each try asks the breaker anew: once it opens, the remaining
  retries stop at once (an open breaker is never retried) — and the budget caps how much retries add.
* **breaker** outside the bulkhead: calls refused by a full bulkhead are local overload, not evidence that
  the target is sick, so they must not count as breaker failures.
* **bulkhead** outside the balancer: it limits concurrency per target, whatever the instance.
* **balance** per try, so a retry goes to another instance, and the outlier detector sees every try.
* **per-try timeout** after the pick: it times exactly one instance's answer, cut to the remaining deadline.
* **headers** last before sending: the remaining deadline and a fresh token belong to this very try.

How it runs: a :class:`Chain` runs the layers inline, in that order, in two coroutines — :meth:`Chain.handle`
(deadline, retry) and :meth:`Chain._try` (breaker to send, once per try) — instead of one coroutine per layer.
Each layer's own work is a few attribute reads; measured in ``bench/client.py``, a frame, a dispatch and the
allocations per layer cost as much again, on every call (and more under load, when every extra function is
one more cold cache line). The decisions with more to them live beside their layer in
:mod:`baton.client.layers`. A layer whose policy is ``None`` is skipped by a ``None`` check on the
target's state ("call directly"), so a target pays only for the layers its policy enables.
"""

from __future__ import annotations

import asyncio
import random
from time import monotonic

from multidict import CIMultiDict

from baton.balancing.base import Balancer
from baton.balancing.outlier import OutlierDetector
from baton.client.base import SERVICE_TOKEN_HEADER, Handler, Request, TokenProvider
from baton.client.instances import InstanceView
from baton.client.layers.balance import BalanceStep
from baton.client.layers.headers import propagate
from baton.client.layers.retry import RetryStep
from baton.client.layers.timeout import deadline_expiry
from baton.client.metrics import ClientMetrics
from baton.client.response import Response
from baton.errors import CallError, CallTimeout, DeadlineExceeded, NoInstances, UpstreamUnavailable
from baton.resilience import deadline
from baton.resilience.deadline import DEADLINE_HEADER, header_value
from baton.resilience.policies import DEFAULT_POLICY, Policy

_BREAKER_FAILURES = (UpstreamUnavailable, CallTimeout, NoInstances)
"""Outcomes that count against the breaker: the target did not answer. A 4xx answer is a success (the
service is healthy, the request was wrong); a spent deadline, a full bulkhead or a cancellation do not count."""


class Chain:
    """One target's layers, run inline in the order above (a :class:`~baton.client.base.Handler`)."""

    def __init__(
        self,
        send: Handler,
        *,
        view: InstanceView,
        balancer: Balancer,
        outliers: OutlierDetector | None,
        metrics: ClientMetrics,
        auth: TokenProvider | None = None,
        rng: random.Random | None = None,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        self._send = send
        self._view = view
        self._balance = BalanceStep(balancer=balancer, outliers=outliers, metrics=metrics)
        self._retry = RetryStep(policy.retry, rng=rng) if policy.retry is not None else None
        self._auth = auth
        # Deadline and per-try timeout apply even without a timeout policy: per-call options and the caller's
        # deadline still do.
        self._total = policy.timeout.total if policy.timeout is not None else None
        self._per_try = policy.timeout.per_try if policy.timeout is not None else None

    async def handle(self, request: Request) -> Response:
        """Run the call: deadline ▸ retry ▸ one :meth:`_try` per attempt.

        Raises:
            DeadlineExceeded: the budget is spent (before or during the call).
            RetryBudgetExhausted: a failure would be retried but the target's retry budget is spent.
            CallError: the last try's failure (see :meth:`_try`).
        """
        options = request.options
        # deadline: narrow the ambient deadline to this call's budget. No timer is armed: the per-try timeout
        # is cut to what is left and every wait (backoff, bulkhead queue) is bounded by it.
        now = monotonic()  # one clock reading per try, shared by every layer (a reading is not free)
        token = deadline.enter(self._total if options.timeout is None else options.timeout, now)
        try:
            # retry: repeat failed tries of safe requests, with full-jitter backoff, within the budget.
            retry = self._retry
            limit = 1 if retry is None else retry.start(request)
            if limit == 1:
                return await self._try(request, now)
            assert retry is not None
            attempt = 1
            while True:
                request.attempt = attempt
                failure: CallError | None = None
                try:
                    response = await self._try(request, now)
                except CallError as exc:
                    if not exc.retryable or attempt >= limit:
                        raise
                    failure = exc
                else:
                    if attempt >= limit or response.status not in retry.statuses:
                        return response
                pause = retry.pause(request, attempt, failure)
                if pause is None:
                    # No retry after all (the deadline or the budget forbids it): report the real outcome.
                    if failure is not None:
                        raise failure
                    return response
                await asyncio.sleep(pause)
                attempt += 1
                now = monotonic()
        finally:
            deadline.restore(token)

    async def _try(self, request: Request, started: float) -> Response:
        """One try, begun at ``started`` (``monotonic()``): breaker ▸ bulkhead ▸ balance ▸ per-try timeout ▸ headers
        ▸ send.

        Raises:
            CircuitOpen: the breaker refused the try (never sent, never retried).
            BulkheadFull: no slot for the try.
            NoInstances: discovery knows no instance of the target.
            CallTimeout: the per-try timeout expired (retryable).
            DeadlineExceeded: the overall deadline is spent, or it (not the per-try timeout) expired.
            UpstreamUnavailable: the instance could not be reached.
        """
        target = request.target
        # breaker: refuse at once when open; judge the try's outcome at the end.
        breaker = target.breaker
        if breaker is not None:
            breaker.acquire()
        picked = started
        try:
            # bulkhead: hold one of the target's slots for the try; queue (bounded) only when all are busy.
            bulkhead = target.bulkhead
            if bulkhead is not None and not bulkhead.try_acquire():
                await bulkhead.acquire(max_wait=deadline.remaining())
                picked = monotonic()
            try:
                # balance: a healthy instance (others first on a retry); it learns from the outcome below.
                view = self._view
                pool = view.instances
                if not pool:
                    pool = await view.current()
                    picked = monotonic()
                instance = self._balance.pick(request, pool)
                status: int | None = None
                error: BaseException | None = None
                try:
                    # per-try timeout: this try's time, cut to what the deadline leaves (the transport arms it).
                    end = deadline.current()
                    left = None if end is None else end - picked
                    per_try = request.options.per_try_timeout
                    if per_try is None:
                        per_try = self._per_try
                    if left is None:
                        bound = False
                        request.try_timeout = per_try
                    elif left <= 0:
                        raise DeadlineExceeded(f"deadline spent before try {request.attempt}", target=target.key)
                    else:
                        bound = per_try is None or left < per_try
                        request.try_timeout = left if bound else per_try
                    # headers: trace context, correlation id, remaining deadline, token — for this very try.
                    headers: CIMultiDict[str] = CIMultiDict(request.headers)
                    propagate(headers)
                    if left is not None:
                        headers[DEADLINE_HEADER] = header_value(left)
                    if self._auth is not None:
                        token = await self._auth(target.service)
                        if token:
                            # Not ``Authorization``: that one carries the end user's bearer token, when any.
                            headers[SERVICE_TOKEN_HEADER] = token
                    request.send_headers = headers
                    # send
                    try:
                        response = await self._send.handle(request)
                    except CallTimeout as exc:
                        expiry = deadline_expiry(request, bound)
                        if expiry is not None:
                            raise expiry from exc
                        raise
                    status = response.status
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    ended = monotonic()
                    self._balance.settle(request, instance, pool, ended - picked, status, error)
            finally:
                if bulkhead is not None:
                    bulkhead.release()
        except _BREAKER_FAILURES:
            if breaker is not None:
                breaker.on_error(monotonic() - started)
            raise
        except BaseException:
            if breaker is not None:
                breaker.release()
            raise
        if breaker is not None:
            if response.status >= 500:
                breaker.on_error(ended - started)
            else:
                breaker.on_success(ended - started)
        return response


def build_chain(
    send: Handler,
    *,
    view: InstanceView,
    balancer: Balancer,
    outliers: OutlierDetector | None,
    metrics: ClientMetrics,
    auth: TokenProvider | None = None,
    rng: random.Random | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> Handler:
    """The handler that runs ``policy``'s layers in the order above, ``send`` last."""
    return Chain(
        send, view=view, balancer=balancer, outliers=outliers, metrics=metrics, auth=auth, rng=rng, policy=policy
    )
