"""kill -9 the control plane: services keep answering; a new control plane re-adopts them, no duplicates."""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from baton.testing import wait_until

pytestmark = pytest.mark.integration


async def test_services_survive_the_control_plane_and_are_readopted(control_plane, toy):
    plane = control_plane({"web": toy(2), "api": toy(1, depends_on=["web"])})
    await plane.start()
    await wait_until(lambda: plane.all_ready(3), timeout=30)
    before = {v["id"]: v for v in await plane.instances()}

    plane.kill9()
    async with httpx.AsyncClient(timeout=5) as http:
        for view in before.values():  # nobody supervises them now, and they still answer
            answer = await http.get(view["url"] + "/work")
            assert answer.json()["instance"] == view["id"]

    await plane.start()
    await wait_until(lambda: plane.all_ready(3), timeout=30)
    after = {v["id"]: v for v in await plane.instances()}
    assert after.keys() == before.keys()
    assert {i: v["pid"] for i, v in after.items()} == {i: v["pid"] for i, v in before.items()}
    assert all(v["adopted"] for v in after.values())
    # No duplicates: exactly one process per instance carries this home.
    assert sorted(p.pid for p in plane.instance_processes()) == sorted(v["pid"] for v in before.values())

    # Adopted instances are not our children any more, yet a kill -9 is noticed (psutil) and repaired.
    victim = after["web-1"]
    os.kill(victim["pid"], signal.SIGKILL)

    async def restarted():
        view = next(v for v in await plane.instances("web") if v["id"] == "web-1")
        return view["ready"] and view["pid"] != victim["pid"] and view["restarts"] == 1

    await wait_until(restarted, timeout=20)


async def test_strays_the_manifest_no_longer_wants_are_stopped(control_plane, toy):
    plane = control_plane({"web": toy(1), "old": toy(1)})
    await plane.start()
    await wait_until(lambda: plane.all_ready(2), timeout=30)
    [old] = await plane.instances("old")
    plane.kill9()
    plane.manifest.write_text(plane.manifest.read_text().replace('"old"', '"new"'))
    await plane.start()
    await wait_until(lambda: plane.all_ready(2), timeout=30)
    assert {v["service"] for v in await plane.instances()} == {"web", "new"}
    assert old["pid"] not in {p.pid for p in plane.instance_processes()}
