"""The client's layers over an in-memory transport: retries, breaker, deadline, headers, fallback, metrics."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from baton.client import Request, Response, ServiceClient
from baton.discovery import Instance, StaticRegistry
from baton.errors import (
    CallTimeout,
    CircuitOpen,
    DeadlineExceeded,
    NoInstances,
    RetryBudgetExhausted,
    UpstreamRejected,
    UpstreamUnavailable,
)
from baton.resilience import BreakerPolicy, Policy, RetryPolicy, TimeoutPolicy, deadline_scope
from baton.telemetry.context import bind_correlation_id

POOL = [Instance(service="inventory", id=f"inventory-{n}", host="127.0.0.1", port=9000 + n) for n in (1, 2, 3)]
FAST_RETRY = RetryPolicy(initial_backoff=0.001, max_backoff=0.002)


class FakeTransport:
    """Answers from a script: a callable (request) -> status, or raises what it returns if an exception."""

    def __init__(self, script: Callable[[Request], int | Exception], delay: float = 0.0) -> None:
        self.script = script
        self.delay = delay
        self.seen: list[tuple[str, str, int, dict[str, str]]] = []

    async def handle(self, request: Request) -> Response:
        assert request.instance is not None
        self.seen.append((request.method, request.instance.id, request.attempt, dict(request.send_headers or {})))
        outcome = self.script(request)
        if self.delay:
            await asyncio.sleep(min(self.delay, request.try_timeout or self.delay))
        if isinstance(outcome, Exception):
            raise outcome
        return Response(outcome, {}, b'{"ok": true}', target="inventory", instance=request.instance)


def make_client(script, *, policy: Policy | None = None, delay: float = 0.0, **kwargs):
    transport = FakeTransport(script, delay)
    metrics = CollectorRegistry()
    client = ServiceClient(
        "inventory",
        registry=StaticRegistry(POOL),
        policies=policy or Policy(retry=FAST_RETRY),
        transport=transport,
        metrics_registry=metrics,
        rng=random.Random(1),
        **kwargs,
    )
    return client, transport, metrics


def sample(metrics: CollectorRegistry, name: str, **labels: str) -> float:
    return metrics.get_sample_value(name, labels) or 0.0


async def test_503_is_retried_on_another_instance_then_succeeds() -> None:
    client, transport, metrics = make_client(lambda r: 503 if r.attempt == 1 else 200)
    async with client:
        response = await client.get("/v1/stock/1")
    assert response.status == 200
    assert [s[2] for s in transport.seen] == [1, 2]
    assert transport.seen[0][1] != transport.seen[1][1]  # the retry avoided the failing instance
    assert sample(metrics, "baton_client_requests_total", target="inventory", outcome="success") == 1
    assert sample(metrics, "baton_client_attempts_total", target="inventory", outcome="error", kind="first") == 1
    assert sample(metrics, "baton_client_attempts_total", target="inventory", outcome="success", kind="retry") == 1


async def test_post_is_not_retried_without_idempotency_key() -> None:
    client, transport, _ = make_client(lambda r: 503)
    async with client:
        with pytest.raises(UpstreamUnavailable, match="503"):
            await client.post("/v1/reservations", json={"sku": 1})
        assert len(transport.seen) == 1
        with pytest.raises(UpstreamUnavailable):
            await client.post("/v1/reservations", json={"sku": 1}, idempotency_key="order-7")
    assert len(transport.seen) == 1 + 3
    assert transport.seen[-1][3]["Idempotency-Key"] == "order-7"


async def test_4xx_is_never_retried_nor_a_breaker_failure() -> None:
    policy = Policy(retry=FAST_RETRY, breaker=BreakerPolicy(window_size=2, minimum_calls=2))
    client, transport, metrics = make_client(lambda r: 404, policy=policy)
    async with client:
        for _ in range(5):
            with pytest.raises(UpstreamRejected) as info:
                await client.get("/v1/stock/404")
            assert info.value.context["status"] == 404
        state = client.resilience.target("inventory")
        assert state.breaker is not None
        assert state.breaker.metrics().failed == 0
    assert len(transport.seen) == 5
    assert sample(metrics, "baton_client_requests_total", target="inventory", outcome="rejected") == 5


async def test_open_breaker_is_not_retried() -> None:
    policy = Policy(retry=FAST_RETRY, breaker=BreakerPolicy(window_size=2, minimum_calls=2, wait_in_open=60))
    client, transport, _ = make_client(lambda r: 500, policy=policy)
    async with client:
        # Try 1 and 2 fail and open the breaker; try 3 is refused and the refusal is not retried.
        with pytest.raises(CircuitOpen):
            await client.get("/v1/stock/1")
        assert len(transport.seen) == 2
        with pytest.raises(CircuitOpen):
            await client.get("/v1/stock/1")
        assert len(transport.seen) == 2


async def test_budget_exhaustion_surfaces_as_its_own_error() -> None:
    policy = Policy(
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.001, budget_ratio=0.0, budget_min_per_second=0.1)
    )
    client, _, _ = make_client(lambda r: UpstreamUnavailable("reset"), policy=policy)
    async with client:
        with pytest.raises(UpstreamUnavailable):
            await client.get("/a")  # the one retry the floor allows is spent here
        with pytest.raises(RetryBudgetExhausted):
            await client.get("/a")


async def test_timeouts_are_retried_and_deadline_header_is_sent() -> None:
    client, transport, _ = make_client(lambda r: CallTimeout("slow") if r.attempt == 1 else 200)
    async with client:
        response = await client.get("/a", timeout=2.0)
    assert response.status == 200
    headers = [s[3] for s in transport.seen]
    first, second = (int(h["X-Request-Deadline"]) for h in headers)
    assert 1900 <= first <= 2000
    assert second <= first


async def test_spent_deadline_sends_nothing() -> None:
    client, transport, _ = make_client(lambda r: 200)
    async with client:
        with deadline_scope(0.0), pytest.raises(DeadlineExceeded):
            await client.get("/a")
    assert transport.seen == []


async def test_caller_deadline_bounds_the_per_try_timeout_and_becomes_deadline_exceeded() -> None:
    def script(request: Request) -> int | Exception:
        assert request.try_timeout is not None
        assert request.try_timeout <= 0.05
        return CallTimeout("timed out")

    policy = Policy(retry=FAST_RETRY, timeout=TimeoutPolicy(per_try=5.0, total=30.0))
    client, transport, _ = make_client(script, policy=policy, delay=10.0)  # the fake waits out the try timeout
    async with client:
        with deadline_scope(0.05), pytest.raises(DeadlineExceeded):
            await client.get("/a")
    assert len(transport.seen) == 1  # a deadline expiry is not retried


async def test_trace_correlation_and_token_headers_on_every_try() -> None:
    tokens = iter(["t1", "t2"])

    async def auth(target: str) -> str:
        assert target == "inventory"
        return next(tokens)

    client, transport, _ = make_client(lambda r: 502 if r.attempt == 1 else 200, auth=auth)
    tracer = TracerProvider().get_tracer("test")
    async with client:
        with bind_correlation_id("corr-1"), tracer.start_as_current_span("checkout") as span:
            await client.get("/a")
    trace_id = format(span.get_span_context().trace_id, "032x")
    for n, (_, _, _, headers) in enumerate(transport.seen, start=1):
        assert headers["X-Correlation-ID"] == "corr-1"
        assert trace_id in headers["traceparent"]
        assert headers["X-Baton-Service-Token"] == f"t{n}"


async def test_fallback_on_failure_but_not_on_4xx() -> None:
    async def fallback(request: Request, error: Exception) -> Response:
        return Response(200, {}, b'{"cached": true}', target="inventory")

    client, _, metrics = make_client(lambda r: 503 if r.path == "/down" else 409, fallback=fallback)
    async with client:
        assert (await client.get("/down")).json() == {"cached": True}
        with pytest.raises(UpstreamRejected):
            await client.get("/conflict")
    assert sample(metrics, "baton_client_requests_total", target="inventory", outcome="fallback") == 1


async def test_no_instances() -> None:
    transport = FakeTransport(lambda r: 200)
    client = ServiceClient(
        "ghost", registry=StaticRegistry(), transport=transport, metrics_registry=CollectorRegistry()
    )
    async with client:
        with pytest.raises(NoInstances, match="ghost"):
            await client.get("/a", timeout=0.2)


async def test_raise_for_status_false_returns_the_answer() -> None:
    client, _, _ = make_client(lambda r: 503, policy=Policy(retry=None))
    async with client:
        response = await client.get("/a", raise_for_status=False)
    assert response.status == 503


async def test_outlier_ejection_is_counted() -> None:
    client, _, metrics = make_client(lambda r: 500 if r.instance.id == "inventory-1" else 200, balancer="round_robin")
    async with client:
        for _ in range(30):
            await client.get("/a")
    assert client.outliers is not None
    assert client.outliers.is_ejected(POOL[0])
    assert sample(metrics, "baton_client_ejections_total", target="inventory", instance="inventory-1") == 1


async def test_gauges_show_breaker_state_and_queue_depth() -> None:
    policy = Policy(retry=None, breaker=BreakerPolicy(window_size=1, minimum_calls=1))
    client, _, metrics = make_client(lambda r: 500, policy=policy)
    async with client:
        with pytest.raises(UpstreamUnavailable):
            await client.get("/a")
        assert sample(metrics, "baton_client_breaker_state", target="inventory") == 1.0
        assert sample(metrics, "baton_client_bulkhead_queue_depth", target="inventory") == 0.0
