"""Releases of a real service through a real gateway, under load: canary steps, automatic rollback, blue-green.

Every test releases ``hello`` by rewriting ``baton.yaml`` and asking the control plane to roll it out, while
clients call ``GET /v1/hello`` through the gateway; each version answers with its own greeting, so the clients
know which version served them.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from baton.testing import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def call(fn, *args):
    return await asyncio.to_thread(fn, *args)


async def finished(system, *phases: str, timeout: float = 60.0) -> dict:
    async def done():
        status = await call(system.rollout_status)
        return status if status["phase"] in phases else None

    return await wait_until(done, timeout=timeout, interval=0.25, message=f"rollout reaches {phases}")


async def settled(system, versions: dict) -> bool:
    """Wait until the running hello instances are exactly ``versions`` (stopped ones leave the list)."""

    async def same() -> bool:
        return dict(await call(system.versions)) == versions

    return await wait_until(same, timeout=20, message=f"instances settle on {versions}")


def stable_greeting(system) -> str:
    return str(system.hello["env"]["HELLO_GREETING"])


async def test_healthy_canary_walks_all_steps_without_a_failed_request(system, load, hello_spec) -> None:
    canary = {"strategy": "canary", "steps": [10, 50, 100], "interval": "2s", "min_requests": 5}
    system.write(hello_spec("1.1.0", greeting="Hi"), **canary)
    async with load(f"{system.gateway}/v1/hello") as clients:
        started = await call(system.post, "/v1/rollouts/hello")
        assert started.status_code == 202, started.text
        status = await finished(system, "healthy", "rolled_back", "aborted")
        after = time.time()
        await wait_until(lambda: any(s[0] > after + 0.3 for s in clients.traffic.samples), timeout=10)

    assert status["phase"] == "healthy", status["events"]
    steps = [e["weight"] for e in status["events"] if e["kind"] == "step"]
    assert steps == [10, 50]
    assert clients.traffic.failed() == []
    served = clients.traffic.by_greeting()
    assert served["Hello"] > 0
    assert served["Hi"] > 0
    late = [s for s in clients.traffic.samples if s[0] > after + 0.3]
    assert {s[2] for s in late} == {"Hi"}
    assert await settled(system, {"1.1.0": 2})
    page = await call(system.page, "/ui/rollouts")  # the dashboard's view of it, Argo-like
    assert "healthy" in page
    assert "setWeight 50%" in page


@pytest.mark.parametrize(
    ("fault", "check"),
    [({"HELLO_FAULT_ERROR_RATE": "0.3"}, "error_rate"), ({"HELLO_FAULT_DELAY_MS": "200"}, "p99")],
    ids=["30pct-5xx", "plus-200ms"],
)
async def test_bad_canary_is_rolled_back_before_the_next_step(system, load, hello_spec, fault, check) -> None:
    stable = dict(await call(system.versions))
    before = stable_greeting(system)
    version = f"9.{len(fault)}.{int(time.time()) % 1000}"
    canary = {"strategy": "canary", "steps": [10, 50, 100], "interval": "3s", "min_requests": 8}
    system.write(hello_spec(version, greeting="Bad", **fault), **canary)
    system.hello = {**system.hello, "env": {"HELLO_GREETING": before}}  # what the system keeps running
    async with load(f"{system.gateway}/v1/hello") as clients:
        assert (await call(system.post, "/v1/rollouts/hello")).status_code == 202
        status = await finished(system, "healthy", "rolled_back", "aborted")
        ended = time.time()
        await wait_until(lambda: any(s[0] > ended + 0.3 for s in clients.traffic.samples), timeout=10)

    assert status["phase"] == "rolled_back", status["events"]
    assert [e["weight"] for e in status["events"] if e["kind"] == "step"] == [10]  # never reached 50%
    assert check in status["message"].replace(" ", "_") or check in str(status["analysis"]["checks"])
    failing = [c["name"] for c in status["analysis"]["checks"] if c["ok"] is False]
    assert check in failing
    # Of the requests sent while the bad version was live, at most its step weight (10%) plus a margin saw it.
    started = status["started_at"]
    window = [s for s in clients.traffic.samples if started <= s[0] <= status["finished_at"]]
    saw_bad = [s for s in window if s[2] == "Bad" or s[1] >= 500]
    assert window
    # The window starts before the launch: traffic is pinned to stable first, or the new instances would be
    # balanced by instance count (half the requests) until the pin landed — the ~16-20% once seen here.
    assert len(saw_bad) / len(window) <= 0.10 + 0.05, f"the bad canary took {len(saw_bad)} of {len(window)} requests"
    late = [s for s in clients.traffic.samples if s[0] > ended + 0.3]
    assert late
    assert all(s[1] == 200 and s[2] == before for s in late)
    assert await settled(system, stable)
    incidents = await call(system.get, "/v1/incidents?state=open")
    assert any(version in i["title"] and "rolled back" in i["title"] for i in incidents)


async def test_blue_green_preview_switch_and_undo_fail_no_request(system, load, hello_spec) -> None:
    before = stable_greeting(system)
    stable = dict(await call(system.versions))
    version = f"3.0.{int(time.time()) % 1000}"
    system.write(
        hello_spec(version, greeting="Green"), strategy="blue_green", keep_warm="5m", auto_promote=False, interval="2s"
    )
    async with load(f"{system.gateway}/v1/hello") as clients:
        assert (await call(system.post, "/v1/rollouts/hello")).status_code == 202
        await finished(system, "paused", "rolled_back")
        assert await call(system.versions) == {**stable, version: 2}  # full replica count beside the old one

        # Testers reach the new version through the preview route; outsiders cannot force it.
        tester = (await call(system.get, "/v1/rollouts/hello/preview"))["headers"]
        async with load(f"{system.gateway}/v1/hello", concurrency=1, headers=tester) as testers:
            await wait_until(lambda: len(testers.traffic.samples) >= 5, timeout=10)
        forcing = {"X-Baton-Version": "canary"}
        async with load(f"{system.gateway}/v1/hello", concurrency=1, headers=forcing) as outsiders:
            await wait_until(lambda: len(outsiders.traffic.samples) >= 5, timeout=10)
        assert set(testers.traffic.by_greeting()) == {"Green"}
        assert set(outsiders.traffic.by_greeting()) == {before}

        switched = await call(system.post, "/v1/rollouts/hello/promote")
        assert switched.status_code == 200
        assert switched.json()["phase"] == "switched"
        at_switch = time.time()
        await wait_until(lambda: sum(s[0] > at_switch for s in clients.traffic.samples) >= 20, timeout=10)
        undo_asked = time.time()
        undone = await call(system.post, "/v1/rollouts/hello/undo")
        assert undone.status_code == 200
        assert undone.json()["phase"] == "aborted"
        at_undo = time.time()
        await wait_until(lambda: sum(s[0] > at_undo for s in clients.traffic.samples) >= 20, timeout=10)

    assert clients.traffic.failed() == []
    assert {s[2] for s in clients.traffic.samples if at_switch < s[0] < undo_asked} == {"Green"}
    assert {s[2] for s in clients.traffic.samples if s[0] > at_undo} == {before}
    assert await settled(system, stable)


async def test_a_canary_carries_on_after_the_control_plane_is_killed(system, load, hello_spec) -> None:
    """Argo keeps a Rollout in etcd; Baton in rollouts.json: kill -9 mid-canary, restart, the same rollout resumes."""
    version = f"5.0.{int(time.time()) % 1000}"
    canary = {"strategy": "canary", "steps": [20, 60, 100], "interval": "3s", "min_requests": 5}
    system.write(hello_spec(version, greeting="Again"), **canary)
    async with load(f"{system.gateway}/v1/hello") as clients:
        assert (await call(system.post, "/v1/rollouts/hello")).status_code == 202

        async def at_first_step() -> dict | None:
            status = await call(system.rollout_status)
            return status if status["phase"] == "progressing" and status["weight"] == 20 else None

        before = await wait_until(at_first_step, timeout=60, interval=0.1, message="canary at 20%")
        system.kill9()
        killed = time.time()
        # Nobody supervises now, yet the gateway keeps the split (the weight the API showed was on disk before it
        # showed it) and so does discovery: the canary still serves its share.
        await wait_until(
            lambda: sum(s[0] > killed and s[2] == "Again" for s in clients.traffic.samples) >= 3,
            message="the canary serves its share while the control plane is dead",
        )
        await call(system.restart)
        status = await finished(system, "healthy", "rolled_back", "aborted")
        ended = time.time()
        await wait_until(lambda: any(s[0] > ended + 0.3 for s in clients.traffic.samples), timeout=10)

    assert status["phase"] == "healthy", status["events"]
    assert status["started_at"] == before["started_at"]  # the same rollout, not a new one
    kinds = [e["kind"] for e in status["events"]]
    assert kinds.count("launched") == 1  # the new version was not started again
    assert "resumed" in kinds
    assert [e["weight"] for e in status["events"] if e["kind"] == "step"] == [20, 60]
    assert clients.traffic.failed() == []
    assert {s[2] for s in clients.traffic.samples if s[0] > ended + 0.3} == {"Again"}
    assert await settled(system, {version: 2})
