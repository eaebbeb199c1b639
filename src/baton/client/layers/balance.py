"""Balance layer: pick an instance for this try (outliers ejected first) and learn from the outcome."""

from __future__ import annotations

import time
from collections.abc import Sequence

from baton.balancing.base import Balancer
from baton.balancing.outlier import OutlierDetector
from baton.client.base import Handler, Request
from baton.client.instances import InstanceView
from baton.client.metrics import ClientMetrics, outcome_of
from baton.client.response import Response
from baton.discovery.base import Instance
from baton.errors import CallTimeout, UpstreamUnavailable


class BalanceLayer:
    """Chooses ``request.instance`` among the healthy instances; feeds the balancer and the outlier detector.

    On a retry, instances already tried are avoided while others remain. Every try is counted in
    ``baton_client_attempts_total`` here, where first tries and retries are told apart.
    """

    def __init__(
        self,
        next: Handler,
        *,
        view: InstanceView,
        balancer: Balancer,
        outliers: OutlierDetector | None,
        metrics: ClientMetrics,
    ) -> None:
        self.next = next
        self._view = view
        self._balancer = balancer
        self._outliers = outliers
        self._metrics = metrics

    async def handle(self, request: Request) -> Response:
        """Send the try to a chosen instance.

        Raises:
            NoInstances: discovery knows no instance of the target.
        """
        pool = self._view.instances or await self._view.current()
        candidates: Sequence[Instance] = pool
        if self._outliers is not None:
            candidates = self._outliers.available(pool)
        if request.tried and len(candidates) > 1:
            fresh = [i for i in candidates if i.id not in request.tried]
            candidates = fresh or candidates
        instance = self._balancer.pick(candidates)
        request.instance = instance
        request.tried.append(instance.id)
        started = time.monotonic()
        failed = False
        counted = True
        status: int | None = None
        error: BaseException | None = None
        try:
            response = await self.next.handle(request)
            status = response.status
            failed = status >= 500
            return response
        except (UpstreamUnavailable, CallTimeout) as exc:
            failed, error = True, exc
            raise
        except BaseException as exc:
            # Cancellation or a spent deadline says nothing about the instance's health.
            counted, error = False, exc
            raise
        finally:
            self._balancer.done(instance, latency=time.monotonic() - started, failed=failed)
            key = request.target.key
            self._metrics.attempt(key, outcome_of(status, error), request.attempt > 1)
            outliers = self._outliers
            if counted and outliers is not None and outliers.record(instance, failed=failed, pool=pool):
                self._metrics.ejection(key, instance.id)
