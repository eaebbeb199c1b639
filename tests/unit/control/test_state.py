"""The state file: round trip, atomic replacement, pid-reuse safety; the data directory's token."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import psutil

from baton.control.home import DEFAULT_NATS_MONITOR_PORT, DEFAULT_NATS_PORT, DaemonInfo, Home
from baton.control.state import InstanceRecord, ProcessRecord, ScaleOverride, StateFile, SupervisorState
from baton.events import server
from baton.testing import wait_until_sync


def test_state_round_trips_through_the_file(tmp_path) -> None:
    state = SupervisorState(
        instances=[
            InstanceRecord(
                id="web-1", service="web", index=1, port=7800, version="2", pid=123, create_time=1.5, restarts=4
            )
        ],
        nats=ProcessRecord(99, 2.5),
        scale={"web": ScaleOverride(replicas=3, manifest_replicas=1)},
    )
    file = StateFile(tmp_path / "state.json")
    file.save(state)
    assert file.load() == state
    assert stat.S_IMODE(os.stat(file.path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp file left behind


def test_missing_or_corrupt_state_reads_as_empty(tmp_path) -> None:
    file = StateFile(tmp_path / "state.json")
    assert file.load() == SupervisorState()
    file.path.write_text("{not json")
    assert file.load() == SupervisorState()


def test_a_record_matches_only_the_process_it_was_taken_from() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        record = ProcessRecord.of(child.pid)
        assert record.alive()
        # Same pid, different create time: the kernel reused the pid for someone else.
        assert not ProcessRecord(child.pid, record.create_time - 100).alive()
    finally:
        child.kill()
        child.wait()
    assert not record.alive()


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    record = ProcessRecord(child.pid, psutil.Process(child.pid).create_time())
    # The child exits but stays a zombie until we reap it: it must already count as gone.
    wait_until_sync(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, timeout=10)
    assert not record.alive()
    child.wait()


def test_admin_token_is_created_once_and_private(tmp_path) -> None:
    home = Home(tmp_path / ".baton")
    assert home.admin_token() is None
    token = home.admin_token(create=True)
    assert token
    assert len(token) >= 32
    assert home.admin_token(create=True) == token
    assert stat.S_IMODE(os.stat(home.token_file).st_mode) == 0o600


def test_daemon_info_round_trips_and_is_cleared_only_by_its_owner(tmp_path) -> None:
    home = Home(tmp_path)
    info = DaemonInfo(
        pid=42,
        create_time=1.0,
        control_port=7700,
        port_base=7800,
        nats_url="nats://127.0.0.1:7722",
        nats_monitor_port=None,
        manifest="/x/baton.yaml",
    )
    home.write_daemon(info)
    assert home.read_daemon() == info
    home.clear_daemon(41)
    assert home.read_daemon() == info
    home.clear_daemon(42)
    assert home.read_daemon() is None


def test_conventional_nats_ports_match_the_event_server() -> None:
    assert (DEFAULT_NATS_PORT, DEFAULT_NATS_MONITOR_PORT) == (server.DEFAULT_PORT, server.DEFAULT_MONITOR_PORT)
