"""Balance: pick an instance for each try (outliers ejected first) and learn from the outcome."""

from __future__ import annotations

from collections.abc import Sequence

from baton.balancing.base import Balancer
from baton.balancing.outlier import OutlierDetector
from baton.client.base import Request
from baton.client.metrics import ClientMetrics, outcome_of
from baton.discovery.base import Instance
from baton.errors import CallTimeout, UpstreamUnavailable

_INSTANCE_FAILURES = (UpstreamUnavailable, CallTimeout)
"""Errors that say something about the instance; cancellation or a spent deadline say nothing."""


class BalanceStep:
    """Chooses ``request.instance`` among the healthy instances; feeds the balancer and the outlier detector.

    On a retry, instances already tried are avoided while others remain. Every try is counted in
    ``baton_client_attempts_total`` here, where first tries and retries are told apart.
    """

    def __init__(self, *, balancer: Balancer, outliers: OutlierDetector | None, metrics: ClientMetrics) -> None:
        self._balancer = balancer
        self._outliers = outliers
        self._metrics = metrics

    def pick(self, request: Request, pool: Sequence[Instance]) -> Instance:
        """Choose the instance of this try from ``pool`` (non-empty) and note it on ``request``."""
        candidates = pool
        if self._outliers is not None:
            candidates = self._outliers.available(pool)
        if request.tried and len(candidates) > 1:
            fresh = [i for i in candidates if i.id not in request.tried]
            candidates = fresh or candidates
        instance = self._balancer.pick(candidates)
        request.instance = instance
        request.tried.append(instance.id)
        return instance

    def settle(
        self,
        request: Request,
        instance: Instance,
        pool: Sequence[Instance],
        latency: float,
        status: int | None,
        error: BaseException | None,
    ) -> None:
        """Record the try's outcome (an answer ``status`` or an ``error``) on the balancer, metrics, outliers."""
        if error is None:
            failed, counted = status is not None and status >= 500, True
        else:
            failed = counted = isinstance(error, _INSTANCE_FAILURES)
        self._balancer.done(instance, latency=latency, failed=failed)
        key = request.target.key
        outcome = "success" if error is None and status is not None and status < 400 else outcome_of(status, error)
        self._metrics.attempt(key, outcome, request.attempt > 1)
        outliers = self._outliers
        if counted and outliers is not None and outliers.record(instance, failed=failed, pool=pool):
            self._metrics.ejection(key, instance.id)
