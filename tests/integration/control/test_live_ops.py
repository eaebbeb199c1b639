"""Live operations under load: scale up and down, rolling restart — zero failed requests, others untouched.

The load is the client engineer's ServiceClient resolving ``web`` through NATS KV discovery, as a real caller.
"""

from __future__ import annotations

import pytest

from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def test_scale_up_and_down_under_load_without_failed_requests(control_plane, toy, discovery, load):
    plane = control_plane({"web": toy(1), "other": toy(1)})
    await plane.start()
    await wait_until(lambda: plane.all_ready(2), timeout=30)
    [bystander] = await plane.instances("other")
    registry = await discovery(plane)
    await wait_until(lambda: registry.resolve("web"), timeout=10)

    async with load(registry, "web") as traffic:
        await wait_until(lambda: traffic.ok >= 20, timeout=20)
        answer = await plane.post("/v1/services/web/scale", {"replicas": 3})
        assert answer.status_code == 200, answer.text
        assert [v["ready"] for v in answer.json()["instances"]] == [True, True, True]
        await wait_until(lambda: len(traffic.seen) == 3, timeout=20)  # callers found the new replicas

        answer = await plane.post("/v1/services/web/scale", {"replicas": 1})
        assert answer.status_code == 200, answer.text
        mark = traffic.ok
        await wait_until(lambda: traffic.ok >= mark + 40, timeout=20)

    assert traffic.failures == []
    assert [v["id"] for v in await plane.instances("web")] == ["web-1"]
    [after] = await plane.instances("other")
    assert (after["pid"], after["restarts"], after["started_at"]) == (
        bystander["pid"],
        bystander["restarts"],
        bystander["started_at"],
    )
    assert len(plane.instance_processes()) == 2  # the two scaled-away replicas are really gone


async def test_rolling_restart_replaces_every_replica_without_failed_requests(control_plane, toy, discovery, load):
    plane = control_plane({"web": toy(2)})
    await plane.start()
    await wait_until(lambda: plane.all_ready(2), timeout=30)
    old = {v["pid"] for v in await plane.instances("web")}
    registry = await discovery(plane)
    await wait_until(lambda: registry.resolve("web"), timeout=10)

    plane.manifest.write_text(plane.manifest.read_text().replace('"replicas": 2', '"replicas": 2, "version": "2"'))
    async with load(registry, "web") as traffic:
        await wait_until(lambda: traffic.ok >= 20, timeout=20)
        answer = await plane.post("/v1/services/web/restart")
        assert answer.status_code == 200, answer.text
        mark = traffic.ok
        await wait_until(lambda: traffic.ok >= mark + 20, timeout=20)

    assert traffic.failures == []
    views = await plane.instances("web")
    assert len(views) == 2
    assert not old & {v["pid"] for v in views}
    assert {v["version"] for v in views} == {"2"}  # the restart picked up the manifest's new version
    assert all(v["ready"] for v in views)


async def test_api_answers_problems_and_guards_everything_but_span_ingest(control_plane, toy):
    plane = control_plane({"web": toy(1)})
    await plane.start()
    answer = await plane.post("/v1/services/nope/scale", {"replicas": 2})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "unknown service 'nope'" in answer.json()["detail"]
    for path in ("/v1/instances", "/v1/system", "/v1/config", "/v1/telemetry/traces"):
        unauthenticated = await plane.api.get(plane.url + path)
        assert unauthenticated.status_code == 401, path
    wrong = await plane.api.get(plane.url + "/v1/instances", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    # Instances export spans without the admin token (an empty OTLP/JSON export is accepted).
    ingest = await plane.api.post(plane.url + "/v1/traces", json={"resourceSpans": []})
    assert ingest.status_code == 200, ingest.text
    assert (await plane.get("/v1/telemetry/traces")) is not None
    [web] = await plane.instances("web")
    logs = await plane.get(f"/v1/instances/{web['id']}/logs?tail=5")
    assert logs["instance"] == "web-1"
    assert isinstance(logs["lines"], list)
    assert len(logs["lines"]) <= 5
    missing = await plane.api.get(plane.url + "/v1/instances/../admin-token/logs", headers=plane.headers())
    assert missing.status_code in (404, 409)
