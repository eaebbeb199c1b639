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

A layer whose policy is ``None`` is left out of the target's chain altogether ("call directly"), so a
target pays only for the layers its policy enables.
"""

from __future__ import annotations

import random

from baton.balancing.base import Balancer
from baton.balancing.outlier import OutlierDetector
from baton.client.base import Handler, TokenProvider
from baton.client.instances import InstanceView
from baton.client.layers.balance import BalanceLayer
from baton.client.layers.breaker import BreakerLayer
from baton.client.layers.bulkhead import BulkheadLayer
from baton.client.layers.deadline import DeadlineLayer
from baton.client.layers.headers import HeadersLayer
from baton.client.layers.retry import RetryLayer
from baton.client.layers.timeout import TimeoutLayer
from baton.client.metrics import ClientMetrics
from baton.resilience.policies import DEFAULT_POLICY, Policy


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
    """Wrap ``send`` in the layers ``policy`` enables, innermost first, and return the outermost handler."""
    handler: Handler = HeadersLayer(send, auth=auth)
    # Deadline and per-try timeout stay even without a timeout policy: per-call options and the caller's
    # deadline still apply.
    handler = TimeoutLayer(handler)
    handler = BalanceLayer(handler, view=view, balancer=balancer, outliers=outliers, metrics=metrics)
    if policy.bulkhead is not None:
        handler = BulkheadLayer(handler)
    if policy.breaker is not None:
        handler = BreakerLayer(handler)
    if policy.retry is not None:
        handler = RetryLayer(handler, rng=rng)
    return DeadlineLayer(handler)
