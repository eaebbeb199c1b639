"""The zygote's pure parts: when it is used, the child's import path, and forked instances' exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from baton.control.process import InstanceProcess
from baton.control.state import ProcessRecord
from baton.control.zygote import (
    FIRST_START_PRELOAD,
    PRELOAD,
    ForkServer,
    ZygoteUnavailable,
    _child_path,
    _preload,
    fork_enabled,
    preload_for,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, sys.platform == "linux"), ("fork", sys.platform == "linux"), ("exec", False), ("EXEC", False)],
)
def test_fork_is_the_default_on_linux_and_exec_turns_it_off(value, expected):
    assert fork_enabled({} if value is None else {"BATON_SPAWN": value}) is expected


def test_child_path_is_what_python_dash_m_in_the_instance_cwd_would_have(tmp_path):
    base = ["/usr/lib/python311.zip", "/usr/lib/python3.11", "/venv/site-packages"]

    path = _child_path(str(tmp_path), os.pathsep.join(["/repo", "", "rel", "/usr/lib/python3.11"]), base)

    assert path == [
        str(tmp_path),
        "/repo",
        os.path.abspath("rel"),
        "/usr/lib/python3.11",
        "/usr/lib/python311.zip",
        "/venv/site-packages",
    ]


class FakeZygote:
    """Stands in for :class:`ForkServer`'s exit reports."""

    def __init__(self) -> None:
        self.exits: dict[int, int] = {}

    def exit_code(self, pid: int, *, wait: float = 0.0) -> int | None:
        return self.exits.get(pid)


def test_a_forked_instance_ends_when_the_zygote_reports_its_exit():
    zygote = FakeZygote()
    running = InstanceProcess(ProcessRecord.of(os.getpid()), forked_by=zygote)  # type: ignore[arg-type]

    assert running.alive()
    assert running.forked
    assert not running.adopted
    assert running.exit_code is None
    zygote.exits[os.getpid()] = -9
    assert not running.alive()


def test_a_gone_forked_instance_has_the_reported_exit_code():
    zygote = FakeZygote()
    gone = InstanceProcess(ProcessRecord(os.getpid(), 0.0), forked_by=zygote)  # type: ignore[arg-type]

    assert not gone.alive()
    assert gone.exit_code is None  # not reported (yet)
    zygote.exits[os.getpid()] = 3
    assert gone.exit_code == 3


def test_a_zygote_that_was_never_started_forks_nothing(tmp_path: Path):
    server = ForkServer(env={}, log_file=tmp_path / "zygote.log")

    assert not server.ready
    assert not server.failed
    with pytest.raises(ZygoteUnavailable):
        server.spawn("apps.hello.service:service", env={}, cwd=tmp_path, log_file=tmp_path / "x.log")


def test_only_commands_running_batons_own_modules_with_this_interpreter_are_forked():
    from baton.control.zygote import forkable_command

    assert forkable_command([sys.executable, "-m", "baton.gateway", "--config", "b.yaml"]) == [
        "baton.gateway",
        "--config",
        "b.yaml",
    ]
    assert forkable_command([sys.executable, "-m", "uvicorn", "app:app"]) is None  # a third-party program
    assert forkable_command(["/other/python", "-m", "baton.gateway"]) is None  # another interpreter
    assert forkable_command([sys.executable, "toyapp.py"]) is None
    assert forkable_command([sys.executable, "-m"]) is None


def test_zygote_environment_drops_every_baton_variable(tmp_path):
    from baton.control.zygote import MARKER_ENV, zygote_environment

    env = zygote_environment(
        tmp_path, {"PATH": "/bin", "BATON_MASTER_KEY": "k", "BATON_LOG_LEVEL": "debug", "MALLOC_ARENA_MAX": "4"}
    )

    assert env == {
        "PATH": "/bin",
        "MALLOC_ARENA_MAX": "4",  # the operator's value wins over the instance default
        "BATON_HOME": str(tmp_path),
        MARKER_ENV: "1",
        "PYTHONUNBUFFERED": "1",
    }
    assert zygote_environment(tmp_path, {})["MALLOC_ARENA_MAX"] == "2"


def test_preload_imports_modules_and_runs_loaders_and_reports_what_failed(monkeypatch: pytest.MonkeyPatch):
    calls: list[str] = []
    monkeypatch.setattr("baton.kit.migrator.load_alembic", lambda: calls.append("loaded"))
    failed = _preload(("json", "baton.kit.migrator:load_alembic", "baton.no_such_module"))
    assert calls == ["loaded"]
    assert len(failed) == 1
    assert failed[0].startswith("baton.no_such_module:")


def test_every_preload_entry_names_an_importable_module_or_loader():
    everything = PRELOAD + FIRST_START_PRELOAD
    assert len(set(everything)) == len(everything)
    assert _preload(everything) == []


def test_the_preload_leaves_out_what_not_every_instance_uses():
    # In a fresh interpreter, as the zygote runs it: this process has imported all sorts already.
    code = (
        "import sys; from baton.control.zygote import NOT_PRELOADED, PRELOAD, _preload; _preload(PRELOAD); "
        "print(sorted(m for m in sys.modules if any(m == n or m.startswith(n + '.') for n in NOT_PRELOADED)))"
    )
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_alembic_is_preloaded_until_the_home_holds_a_database(tmp_path: Path):
    assert preload_for(None) == PRELOAD + FIRST_START_PRELOAD
    assert preload_for(tmp_path) == PRELOAD + FIRST_START_PRELOAD
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "catalog.db.migrate.lock").touch()
    assert preload_for(tmp_path) == PRELOAD + FIRST_START_PRELOAD
    (tmp_path / "data" / "catalog.db").touch()
    assert preload_for(tmp_path) == PRELOAD
