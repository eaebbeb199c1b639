"""The resilient client against real HTTP servers behind the FaultProxy.

Breaker (failure rate, slow calls, half-open probes, closing), retry budget under a 50% error burst,
a hung dependency (per-try timeout, no leaked task or socket) and the bulkhead.
"""

from __future__ import annotations

import asyncio

import psutil
import pytest
from prometheus_client import CollectorRegistry

from baton.client import ServiceClient
from baton.errors import BulkheadFull, CallTimeout, CircuitOpen, UpstreamUnavailable
from baton.resilience import BreakerPolicy, BreakerState, BulkheadPolicy, Policy, RetryPolicy, TimeoutPolicy
from baton.testing import FaultProxy, wait_until

from .client_upstreams import Upstream

pytestmark = pytest.mark.integration

BREAKER = BreakerPolicy(
    window_size=6,
    minimum_calls=6,
    failure_rate_threshold=50,
    slow_call_rate_threshold=50,
    slow_call_duration=0.15,
    wait_in_open=0.3,
    permitted_calls_in_half_open=2,
)


def client_for(proxy: FaultProxy, policy: Policy, metrics: CollectorRegistry) -> ServiceClient:
    return ServiceClient("inventory", base_url=proxy.url, policies=policy, metrics_registry=metrics, outlier=None)


async def call_until_admitted(client: ServiceClient) -> int:
    """Call until the open breaker lets a probe through; return the probe's status."""

    async def attempt() -> int | None:
        try:
            return (await client.get("/item", raise_for_status=False)).status
        except CircuitOpen:
            return None

    return await wait_until(attempt, timeout=3, interval=0.05)


async def test_breaker_opens_on_failure_rate_probes_and_closes(proxy: FaultProxy, metrics) -> None:
    client = client_for(proxy, Policy(retry=None, breaker=BREAKER), metrics)
    breaker = client.resilience.target("inventory").breaker
    assert breaker is not None
    async with client:
        proxy.http_errors(1.0, status=503)
        for _ in range(6):
            with pytest.raises(UpstreamUnavailable):
                await client.get("/item")
        assert breaker.state is BreakerState.OPEN
        sent = proxy.injected
        for _ in range(5):
            with pytest.raises(CircuitOpen):
                await client.get("/item")
        assert proxy.injected == sent  # refused locally: nothing reached the dependency
        assert metrics.get_sample_value("baton_client_breaker_state", {"target": "inventory"}) == 1.0

        proxy.clear()
        assert await call_until_admitted(client) == 200  # first probe in half-open
        assert breaker.state is BreakerState.HALF_OPEN
        await client.get("/item")  # second probe: both succeeded
        assert breaker.state is BreakerState.CLOSED


async def test_breaker_opens_on_slow_calls_and_reopens_if_probes_stay_slow(proxy: FaultProxy, metrics) -> None:
    client = client_for(proxy, Policy(retry=None, breaker=BREAKER), metrics)
    breaker = client.resilience.target("inventory").breaker
    assert breaker is not None
    async with client:
        proxy.latency(0.2)
        for _ in range(6):
            assert (await client.get("/item")).status == 200  # slow but successful
        assert breaker.state is BreakerState.OPEN
        assert breaker.metrics().slow == 6
        assert await call_until_admitted(client) == 200
        await client.get("/item")
        assert breaker.state is BreakerState.OPEN  # the probes were slow too
        proxy.clear()
        await call_until_admitted(client)
        await client.get("/item")
        assert breaker.state is BreakerState.CLOSED


async def test_retries_stay_within_budget_under_a_50_percent_error_burst(proxy: FaultProxy, metrics) -> None:
    retry = RetryPolicy(
        max_attempts=3, initial_backoff=0.001, max_backoff=0.002, budget_ratio=0.2, budget_min_per_second=1.0
    )
    client = client_for(proxy, Policy(retry=retry, breaker=None, bulkhead=None), metrics)
    requests = 200
    async with client:
        proxy.http_errors(0.5, status=503)
        outcomes = await asyncio.gather(
            *(client.get("/item", raise_for_status=False) for _ in range(requests)), return_exceptions=True
        )
    tries = proxy.injected + proxy.forwarded
    retries = tries - requests
    allowed = 0.2 * requests + 1.0 * 10  # ratio of requests + floor (1/s over the 10 s window)
    assert 0 < retries <= allowed
    # Unbudgeted, ~50% of calls would need a retry and ~25% a second one (~150 retries).
    retry_metric = sum(
        metrics.get_sample_value("baton_client_attempts_total", {"target": "inventory", "outcome": o, "kind": "retry"})
        or 0.0
        for o in ("success", "error")
    )
    assert retry_metric == retries
    ok = sum(1 for o in outcomes if not isinstance(o, BaseException) and o.status == 200)
    assert ok > requests * 0.5  # retries did recover some of the failures


def _client_sockets(port: int) -> int:
    return sum(
        1
        for c in psutil.Process().net_connections("tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


async def test_hung_dependency_trips_per_try_timeout_and_leaks_nothing(proxy: FaultProxy, metrics) -> None:
    policy = Policy(retry=RetryPolicy(max_attempts=2, initial_backoff=0.001), timeout=TimeoutPolicy(per_try=0.2))
    client = client_for(proxy, policy, metrics)
    async with client:
        await client.get("/item")  # warm: one pooled connection, the discovery watch task
        tasks_before = len(asyncio.all_tasks())
        sockets_before = _client_sockets(proxy.port)
        assert sockets_before == 1
        proxy.hang()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(CallTimeout):
            await client.get("/item")
        elapsed = loop.time() - started
        assert 0.4 <= elapsed < 1.0  # two tries of 0.2 s each, not the dependency's forever
        proxy.clear()
        await wait_until(lambda: _client_sockets(proxy.port) <= sockets_before, timeout=3)
        await wait_until(lambda: len(asyncio.all_tasks()) <= tasks_before, timeout=3)
        assert (await client.get("/item")).status == 200  # and the client still works
    await wait_until(lambda: _client_sockets(proxy.port) == 0, timeout=3)


async def test_bulkhead_rejects_when_full_and_recovers(upstream: Upstream, metrics) -> None:
    upstream.delay = 0.3
    policy = Policy(retry=None, breaker=None, bulkhead=BulkheadPolicy(max_concurrent=2, max_queue=1, max_wait=2))
    async with ServiceClient("inventory", base_url=f"http://127.0.0.1:{upstream.port}", policies=policy,
                             metrics_registry=metrics) as client:  # fmt: skip
        results = await asyncio.gather(*(client.get("/item") for _ in range(5)), return_exceptions=True)
        full = [r for r in results if isinstance(r, BulkheadFull)]
        ok = [r for r in results if not isinstance(r, BaseException) and r.status == 200]
        assert (len(ok), len(full)) == (3, 2)  # 2 in flight + 1 queued; the rest refused at once
        assert "full" in str(full[0])
        assert upstream.hits == 3
        bulkhead = client.resilience.target("inventory").bulkhead
        assert bulkhead is not None
        assert (bulkhead.in_flight, bulkhead.queue_depth) == (0, 0)
        upstream.delay = 0.0
        assert (await client.get("/item")).status == 200  # recovered


async def test_fault_proxy_reset_down_and_up(proxy: FaultProxy, metrics) -> None:
    client = client_for(proxy, Policy(retry=None, breaker=None), metrics)
    async with client:
        proxy.reset()
        with pytest.raises(UpstreamUnavailable):
            await client.get("/item")
        proxy.clear()
        proxy.down()
        with pytest.raises(UpstreamUnavailable, match="unreachable"):
            await client.get("/item")
        await proxy.up()
        assert (await client.get("/item")).status == 200


async def test_fault_proxy_latency_and_bandwidth(proxy: FaultProxy, upstream: Upstream, metrics) -> None:
    client = client_for(proxy, Policy(retry=None, breaker=None), metrics)
    loop = asyncio.get_running_loop()
    async with client:
        await client.get("/item")
        proxy.latency(0.1, jitter=0.02)
        started = loop.time()
        await client.get("/item")
        assert loop.time() - started >= 0.08
        proxy.clear()
        proxy.bandwidth(2000)  # the ~200-byte answer takes ~0.1 s
        started = loop.time()
        assert (await client.get("/item")).json() == {"instance": "inventory-1"}
        assert loop.time() - started >= 0.05
