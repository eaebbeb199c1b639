"""Supervision with real processes: kill -9 → restarted and back in rotation; unready → out of rotation."""

from __future__ import annotations

import os
import signal

import pytest

from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def test_killed_instance_is_restarted_and_back_in_rotation(control_plane, toy, discovery, in_rotation):
    plane = control_plane({"web": toy(2)})
    await plane.start()
    await wait_until(lambda: plane.all_ready(2), timeout=30)
    registry = await discovery(plane)
    await wait_until(lambda: in_rotation(registry, "web"), timeout=10)
    assert await in_rotation(registry, "web") == {"web-1", "web-2"}

    victim = (await plane.instances("web"))[0]
    os.kill(victim["pid"], signal.SIGKILL)

    async def replaced():
        view = next(v for v in await plane.instances("web") if v["id"] == victim["id"])
        return view if view["ready"] and view["pid"] != victim["pid"] else None

    view = await wait_until(replaced, timeout=20)
    assert view["restarts"] == 1
    assert view["port"] == victim["port"]  # restarted in place: same id, same port
    assert view["last_exit"] == -signal.SIGKILL
    await wait_until(lambda: in_rotation(registry, "web"), timeout=10)
    assert await in_rotation(registry, "web") == {"web-1", "web-2"}
    other = next(v for v in await plane.instances("web") if v["id"] != victim["id"])
    assert other["restarts"] == 0


async def test_unready_instance_leaves_rotation_and_traffic_avoids_it(control_plane, toy, discovery, in_rotation, load):
    plane = control_plane({"web": toy(2)})
    await plane.start()
    await wait_until(lambda: plane.all_ready(2), timeout=30)
    registry = await discovery(plane)
    await wait_until(lambda: _count(in_rotation(registry, "web"), 2), timeout=10)
    sick, healthy = await plane.instances("web")
    await plane.api.post(sick["url"] + "/fail-readiness")

    await wait_until(lambda: _excludes(in_rotation(registry, "web"), sick["id"]), timeout=10)
    view = next(v for v in await plane.instances("web") if v["id"] == sick["id"])
    assert (view["ready"], view["state"], view["pid"]) == (False, "running", sick["pid"])  # kept, not killed

    async with load(registry, "web") as traffic:
        await wait_until(lambda: traffic.ok >= 40, timeout=20)
    assert traffic.failures == []
    assert traffic.seen == {healthy["id"]}

    await plane.api.post(sick["url"] + "/heal")
    await wait_until(lambda: _count(in_rotation(registry, "web"), 2), timeout=10)
    view = next(v for v in await plane.instances("web") if v["id"] == sick["id"])
    assert view["ready"]
    assert view["restarts"] == 0


async def _count(ids, expected: int) -> bool:
    return len(await ids) == expected


async def _excludes(ids, instance_id: str) -> bool:
    return instance_id not in await ids
