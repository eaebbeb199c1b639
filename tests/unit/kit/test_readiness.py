"""/livez and /readyz: checks, verbose output, 503 with reasons, draining flips readiness first."""

from __future__ import annotations

import asyncio

from baton.kit import Service
from baton.kit.component import InstanceContext


class FlakyComponent:
    """A component whose health the test controls; records its lifecycle calls."""

    name = "flaky"

    def __init__(self) -> None:
        self.healthy = True
        self.calls: list[str] = []

    async def start(self, ctx: InstanceContext) -> None:
        assert ctx.engine is not None
        assert ctx.sessions is not None
        self.calls.append("start")

    async def check(self) -> None:
        if not self.healthy:
            raise RuntimeError("lost its lease")

    async def drain(self) -> None:
        self.calls.append("drain")

    async def stop(self) -> None:
        self.calls.append("stop")


async def test_ready_service_answers_200_and_verbose_lists_every_check(serving):
    service = Service("ready", dependencies=["inventory"])
    service.add_component(FlakyComponent())
    async with serving(service) as client:
        plain = await client.get("/readyz")
        verbose = await client.get("/readyz?verbose")
        live = await client.get("/livez")
    assert plain.status_code == 200
    assert plain.json() == {"status": "ready"}
    checks = verbose.json()["checks"]
    assert [c["name"] for c in checks] == ["shutting_down", "db", "dependency:inventory", "flaky"]
    assert all(c["ok"] and c["reason"] is None and c["duration_ms"] >= 0 for c in checks)
    assert live.status_code == 200


async def test_failing_checks_give_503_problem_naming_them(serving):
    service = Service("degraded")
    component = FlakyComponent()
    service.add_component(component)

    @service.readiness_check("cache")
    async def cache() -> None:
        raise ConnectionError("cache unreachable")

    async with serving(service) as client:
        component.healthy = False
        response = await client.get("/readyz")
        verbose = await client.get("/readyz?verbose")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["detail"] == "flaky: lost its lease; cache: cache unreachable"
    assert {c["name"] for c in body["checks"]} == {"flaky", "cache"}
    assert {c["name"]: c["ok"] for c in verbose.json()["checks"]}["db"] is True


async def test_declared_dependencies_use_the_pluggable_resolver(serving):
    async def registry(service: str) -> None:
        if service == "payment":
            raise LookupError("no ready instance of payment")

    service = Service("order", dependencies=["inventory", "payment"], dependency_check=registry)
    async with serving(service) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == "dependency:payment: no ready instance of payment"


async def test_a_hanging_check_times_out_instead_of_hanging_the_probe(serving):
    service = Service("slow")
    service.readiness.timeout = 0.05

    @service.readiness_check("stuck")
    async def stuck() -> None:
        await asyncio.Event().wait()

    async with serving(service) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"][0]["reason"] == "timed out after 0.05s"


async def test_draining_flips_readiness_before_components_stop(serving):
    service = Service("draining")
    component = FlakyComponent()
    service.add_component(component)
    async with serving(service) as client:
        await service.begin_shutdown()
        response = await client.get("/readyz")
        live = await client.get("/livez")
        assert component.calls == ["start", "drain"]
    assert response.status_code == 503
    assert "shutting_down: instance is draining" in response.json()["detail"]
    assert live.status_code == 200
    assert component.calls == ["start", "drain", "stop"]
