"""A kit service for the observation tests: ``GET /v1/relay`` calls hello through ``RELAY_UPSTREAM``.

The tests put a :class:`baton.testing.FaultProxy` at ``RELAY_UPSTREAM``, in front of the hello instance: latency
the proxy adds is latency of relay's own requests, so a latency SLO on relay breaches in the histogram the
control plane scrapes. Its resilient client reports to the service's own metrics registry, so breaker state
and bulkhead depth show up in ``/metrics`` (and on the dashboard's resilience page).
"""

from __future__ import annotations

import os

from baton.client import ServiceClient
from baton.kit import Service
from baton.resilience import policies_from_mapping

service = Service("relay")
_clients: dict[str, ServiceClient] = {}

# A breaker and a bulkhead to show, tuned never to trip on the latency the tests inject: the SLO must see slow
# answers, not fast failures.
POLICIES = {
    "default": "relay",
    "named": {
        "relay": {
            "retry": None,
            "timeout": {"per_try": "5s", "total": "5s"},
            "breaker": {"slow_call_duration": "10s", "minimum_calls": 50},
            "bulkhead": {"max_concurrent": 32, "max_queue": 64},
        }
    },
}


def _client() -> ServiceClient:
    client = _clients.get("hello")
    if client is None:
        client = ServiceClient(
            "hello",
            base_url=os.environ["RELAY_UPSTREAM"],
            policies=policies_from_mapping(POLICIES),
            metrics_registry=service.metrics.registry,
        )
        _clients["hello"] = client
    return client


@service.get("/v1/relay")
async def relay(name: str = "relay") -> dict[str, str]:
    """Ask hello for a greeting and pass it on."""
    body = await _client().get_json("/v1/hello", params={"name": name})
    return {"relayed": body["message"]}
