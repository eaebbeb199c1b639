"""Instances forked from the zygote: real processes that answer, with their own environment and log file, restarted
after ``kill -9``, serving on through a control-plane ``kill -9`` and re-adopted, and gone after shutdown."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest

from baton.control.adoption import find_strays
from baton.security.operator import OperatorAccess
from baton.testing import wait_until

from .conftest import ControlPlane

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


def zapp(own: str) -> dict[str, Any]:
    """A manifest entry running :mod:`zygote_app` (a kit service) with its own ``ZAPP_OWN``."""
    return {
        "module": "zygote_app:service",
        "cwd": str(HERE),
        "env": {"ZAPP_OWN": own},
        "allow": {"/v1": ["operator"]},
        "drain_delay": 0,
        "probes": {"interval": 0.2, "timeout": 1, "failure_threshold": 2},
    }


class KeyedPlane(ControlPlane):
    """A control plane whose own environment holds a master key (which no instance may receive)."""

    master_key = base64.b64encode(os.urandom(32)).decode()

    def env(self) -> dict[str, str]:
        return {**super().env(), "BATON_MASTER_KEY": self.master_key}


def zygote_of(plane: ControlPlane) -> psutil.Process:
    """The zygote of ``plane``'s daemon."""
    assert plane.process is not None
    children = psutil.Process(plane.process.pid).children()
    [zygote] = [p for p in children if "baton.control.zygote" in " ".join(p.cmdline())]
    return zygote


async def whoami(access: OperatorAccess, view: dict[str, Any]) -> dict[str, Any]:
    """``/v1/whoami`` of the instance ``view`` describes (the operator's certificate and tokens are cached, so this
    works while the control plane is down once each service was called)."""
    async with access.async_client(timeout=10) as http:
        answer = await http.get(view["url"] + "/v1/whoami")
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result


async def test_forked_instances(tmp_path: Path) -> None:
    plane = KeyedPlane(tmp_path, {"za": zapp("a"), "zb": zapp("b")})
    try:
        await plane.start()
        await wait_until(lambda: plane.all_ready(2), timeout=60, message="both instances ready")
        zygote = zygote_of(plane)
        views = {v["service"]: v for v in await plane.instances()}
        access = OperatorAccess.for_control(plane.url, plane.home.admin_token() or "")

        # Real processes, forked by the zygote, each a session leader, answering on its own port.
        for service, own in (("za", "a"), ("zb", "b")):
            view = views[service]
            process = psutil.Process(view["pid"])
            assert process.ppid() == zygote.pid
            me = await whoami(access, view)
            assert me["pid"] == view["pid"]
            assert me["sid"] == view["pid"]
            # Its own environment: no leakage between instances, never the master key.
            assert me["instance"] == f"{service}-1"
            assert me["port"] == str(view["port"])
            assert me["own"] == own
            assert me["master_key"] is False
            assert me["malloc_arena_max"] == "2"
            assert me["cwd"] == str(HERE)
            assert me["path0"] == str(HERE)
            # Its log lines go to its own log file.
            log_file = plane.home.log_file(f"{service}-1")
            await wait_until(
                lambda f=log_file, s=service: f"whoami answered by {s}-1" in f.read_text(),  # type: ignore[misc]
                timeout=10,
                message="log line in the instance's log file",
            )
            assert f"whoami answered by {'zb' if service == 'za' else 'za'}-1" not in log_file.read_text()
        assert "BATON_MASTER_KEY" not in zygote.environ()

        # kill -9 → the supervisor notices (the zygote reports the exit) and forks a new one.
        victim = views["za"]["pid"]
        os.kill(victim, signal.SIGKILL)

        async def restarted() -> bool:
            [view] = await plane.instances("za")
            return bool(view["ready"] and view["pid"] != victim and view["restarts"] == 1)

        await wait_until(restarted, timeout=30, message="za restarted")
        [view] = await plane.instances("za")
        assert view["last_exit"] == -signal.SIGKILL
        assert psutil.Process(view["pid"]).ppid() == zygote.pid
        assert (await whoami(access, view))["pid"] == view["pid"]  # (it also fetches the keys tokens are checked with)
        before = {v["id"]: v["pid"] for v in await plane.instances()}

        # kill -9 the control plane: the zygote leaves (its stdin closed), the instances keep serving.
        plane.kill9()
        await wait_until(lambda: not zygote.is_running(), timeout=10, message="the zygote exits with its daemon")
        for view in views.values():
            assert (await whoami(access, view))["instance"] == view["id"]

        # A new control plane re-adopts them: same pids, no duplicates.
        await plane.start()
        await wait_until(lambda: plane.all_ready(2), timeout=60, message="re-adopted")
        after = await plane.instances()
        assert {v["id"]: v["pid"] for v in after} == before
        assert all(v["adopted"] for v in after)
        new_zygote = zygote_of(plane)
        strays = {r.pid for r in find_strays(plane.home.root)}
        assert strays == {*before.values(), new_zygote.pid}

        # Shutdown leaves no process of this home behind, zygote included.
        assert (await plane.post("/v1/shutdown")).status_code < 300
        assert plane.process is not None
        await asyncio.to_thread(plane.process.wait, 30)
        await wait_until(lambda: not find_strays(plane.home.root), timeout=10, message="no orphans")
        assert not new_zygote.is_running()
    finally:
        await plane.shutdown()


async def test_exec_spawn_when_asked(tmp_path: Path) -> None:
    class ExecPlane(ControlPlane):
        def env(self) -> dict[str, str]:
            return {**super().env(), "BATON_SPAWN": "exec"}

    plane = ExecPlane(tmp_path, {"za": zapp("a")})
    try:
        await plane.start()
        await wait_until(lambda: plane.all_ready(1), timeout=60, message="ready")
        [view] = await plane.instances()
        assert plane.process is not None
        assert psutil.Process(view["pid"]).ppid() == plane.process.pid
        assert not [p for p in psutil.Process(plane.process.pid).children() if "baton.control.zygote" in p.cmdline()]
        access = OperatorAccess.for_control(plane.url, plane.home.admin_token() or "")
        assert (await whoami(access, view))["own"] == "a"
    finally:
        await plane.shutdown()


def test_zygote_exits_when_its_stdin_closes(tmp_path: Path) -> None:
    """Started by hand: it preloads, says it is ready, and leaves when the pipe closes."""
    from baton.control.zygote import ForkServer

    server = ForkServer(env={**os.environ, "BATON_HOME": str(tmp_path)}, log_file=tmp_path / "zygote.log")
    server.start()
    try:
        assert server.wait_ready(60)
        pid = server.pid
        assert pid is not None
        assert psutil.Process(pid).num_threads() == 1  # forking is only safe without threads
    finally:
        server.close()
    with pytest.raises(psutil.NoSuchProcess):
        psutil.Process(pid).status()
    assert server.failed  # worked, then went away: a supervisor would start a new one


def test_zygote_forks_a_module_command_with_its_arguments(tmp_path: Path) -> None:
    """A command (the gateway's ``{python} -m baton.gateway ...``) forked: run as ``python -m`` with its argv, in its
    cwd and environment, and its exit status reported."""
    from baton.control.zygote import ForkServer

    (tmp_path / "s2_command.py").write_text(
        "import os, sys\n"
        "print('argv', sys.argv[1:], 'name', __name__, 'cwd', os.getcwd(), 'env', os.environ.get('S2_VALUE'))\n"
        "sys.exit(3)\n"
    )
    server = ForkServer(env={**os.environ, "BATON_HOME": str(tmp_path)}, log_file=tmp_path / "zygote.log")
    server.start()
    try:
        assert server.wait_ready(60)
        log_file = tmp_path / "logs" / "cmd-1.log"
        env = {"PATH": os.environ.get("PATH", ""), "S2_VALUE": "seen"}
        pid = server.spawn("", env=env, cwd=tmp_path, log_file=log_file, argv=["s2_command", "--flag", "x"])
        assert server.exit_code(pid, wait=30) == 3
    finally:
        server.close()
    assert f"argv ['--flag', 'x'] name __main__ cwd {tmp_path} env seen" in log_file.read_text()


async def test_early_zygote_closed_when_nothing_forks(tmp_path: Path) -> None:
    """``python -m baton.control`` starts the zygote before reading the manifest; a manifest of commands that are
    not Baton modules does not keep it."""
    from .conftest import toy_service

    plane = ControlPlane(tmp_path, {"toy": toy_service()})
    try:
        await plane.start()
        await wait_until(lambda: plane.all_ready(1), timeout=60, message="ready")
        assert plane.process is not None
        daemon = psutil.Process(plane.process.pid)
        await wait_until(
            lambda: not [p for p in daemon.children() if "baton.control.zygote" in " ".join(p.cmdline())],
            timeout=10,
            message="the early zygote gone",
        )
        [view] = await plane.instances()
        assert psutil.Process(view["pid"]).ppid() == daemon.pid  # spawned, not forked
    finally:
        await plane.shutdown()
