"""The curated public names of the client-side packages, pinned (additions are deliberate)."""

from __future__ import annotations

import pytest

import baton.balancing
import baton.client
import baton.discovery
import baton.resilience

PUBLIC = {
    baton.client: {
        "AiohttpTransport", "CallOptions", "ClientMetrics", "Fallback", "Handler", "Request", "Response",
        "ServiceClient", "TokenProvider", "build_chain",
    },
    baton.discovery: {
        "BACKENDS", "DnsRegistry", "Instance", "NatsKvRegistry", "RegistrationComponent", "Registry",
        "StaticRegistry", "nats_kv_factory", "registry_from_name", "registry_from_url",
    },
    baton.balancing: {
        "BALANCERS", "Balancer", "LeastOutstanding", "OutlierDetector", "OutlierPolicy", "PeakEwma", "RoundRobin",
        "balancer_from_name",
    },
    baton.resilience: {
        "DEADLINE_HEADER", "DEFAULT_POLICY", "IDEMPOTENT_METHODS", "MONOTONIC", "NOOP_POLICY", "BreakerMetrics",
        "BreakerPolicy", "BreakerState", "Bulkhead", "BulkheadPolicy", "CircuitBreaker", "Clock",
        "DeadlineMiddleware", "ManualClock", "MonotonicClock", "Policy", "PolicySet", "Resilience", "RetryBudget",
        "RetryPolicy", "TargetState", "TimeoutPolicy", "backoff", "backoff_cap", "deadline_scope",
        "is_retryable_request", "parse_duration", "policies_from_mapping", "remaining",
    },
}  # fmt: skip


@pytest.mark.parametrize("module", list(PUBLIC), ids=lambda m: m.__name__)
def test_all_is_pinned_and_importable(module) -> None:
    assert set(module.__all__) == PUBLIC[module]
    for name in module.__all__:
        assert getattr(module, name) is not None


async def test_clients_can_share_one_connector() -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=10)
    try:
        for name in ("inventory", "catalog"):
            async with baton.client.ServiceClient(name, base_url="http://127.0.0.1:9", connector=connector):
                pass
        assert not connector.closed  # the clients did not own it
    finally:
        await connector.close()
