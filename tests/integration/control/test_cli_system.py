"""The real ``baton`` command against a real system: up --detach, ps --json, down without orphans; bad manifests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from baton.control.state import StateFile

pytestmark = pytest.mark.integration


def baton(plane, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_baton_path()), *args, "-f", str(plane.manifest)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=plane.env(),
        cwd=plane.root,
    )


def _baton_path() -> Path:
    return Path(sys.executable).with_name("baton")


async def test_up_ps_down_leaves_no_process_behind(control_plane, toy):
    # A shell wrapper: its python child must not survive `down` either (the process group is signalled).
    python, app = sys.executable, toy()["command"][1]
    wrapped = {**toy(1), "command": ["sh", "-c", f"'{python}' '{app}'; true"]}
    plane = control_plane({"web": toy(2), "wrapped": wrapped})

    up = baton(plane, "up", "--detach", "--json")
    assert up.returncode == 0, up.stderr
    report = json.loads(up.stdout)
    assert report["ready"] is True
    assert report["system"]["urls"]["services"].keys() == {"web", "wrapped"}

    ps = baton(plane, "ps", "--json")
    assert ps.returncode == 0, ps.stderr
    views = json.loads(ps.stdout)
    assert sorted(v["id"] for v in views) == ["web-1", "web-2", "wrapped-1"]
    assert all(v["state"] == "running" and v["ready"] for v in views)

    state = StateFile(plane.home.state_file).load()
    recorded = [r.process for r in state.instances]
    assert state.nats is not None
    daemon = plane.home.read_daemon()
    assert daemon is not None
    everything = [*plane.instance_processes(), psutil.Process(state.nats.pid), psutil.Process(daemon.pid)]
    assert len(everything) >= 5  # 3 instances (+ the wrapper's child), NATS, the daemon

    down = baton(plane, "down", "--json")
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)["leftover_pids"] == []
    assert not any(r.alive() for r in recorded)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in everything)
    assert plane.instance_processes() == []
    assert plane.home.read_daemon() is None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: x\nservices:\n  web:\n    command: [x]\n    replicas: two\n", ":5: services.web.replicas"),
        ("name: x\nservices:\n  web:\n    comand: [x]\n", ":4: services.web.comand: unknown field"),
        (
            "name: x\nservices:\n  a: {command: [x], depends_on: [b]}\n  b: {command: [x], depends_on: [a]}\n",
            ":3: services.a.depends_on: dependency cycle: a -> b -> a",
        ),
    ],
    ids=["wrong-type", "typo", "cycle"],
)
async def test_malformed_manifest_is_rejected_and_nothing_starts(control_plane, toy, text, where):
    plane = control_plane({"web": toy(1)})
    plane.manifest.write_text(text)
    up = baton(plane, "up", "--detach")
    assert up.returncode == 1
    assert f"{plane.manifest}{where}" in up.stderr
    assert "Traceback" not in up.stderr
    assert not plane.home.root.exists() or plane.instance_processes() == []
    if "cycle" not in text:
        return
    # The daemon itself refuses it the same way (checked once: each start costs seconds on a shared machine).
    daemon = await asyncio.to_thread(
        subprocess.run, plane.argv(), capture_output=True, text=True, timeout=60, env=plane.env()
    )
    assert daemon.returncode == 1
    assert f"{plane.manifest}{where}" in daemon.stderr
