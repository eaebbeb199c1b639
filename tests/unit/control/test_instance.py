"""A supervised slot: readiness moves it in and out of rotation; exits and liveness failures restart it."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from baton.control.backoff import RestartPolicy
from baton.control.instance import InstanceSlot, SlotState
from baton.control.manifest import ServiceSpec
from baton.control.process import InstanceProcess
from baton.control.rotation import Rotation
from baton.discovery.base import Instance
from baton.testing import wait_until


class FakeProber:
    """Answers probes from a table: path → status (``None`` = connection refused)."""

    def __init__(self) -> None:
        self.answers: dict[str, int | None] = {"/livez": 200, "/readyz": 200}

    async def status(self, url: str, *, timeout: float) -> int | None:
        return self.answers["/" + url.rsplit("/", 1)[-1]]


class MemoryRegistry:
    """Records registrations (a unit-test double of the discovery Registry)."""

    def __init__(self) -> None:
        self.live: dict[str, Instance] = {}
        self.events: list[tuple[str, str]] = []

    async def register(self, instance: Instance) -> None:
        self.live[instance.id] = instance
        self.events.append(("register", instance.id))

    async def deregister(self, instance: Instance) -> None:
        self.live.pop(instance.id, None)
        self.events.append(("deregister", instance.id))


def sleeping_slot(
    tmp_path: Path, registry: MemoryRegistry, prober: object, *, probes: dict[str, float], policy: RestartPolicy
) -> InstanceSlot:
    """Slot ``web-1`` on port 7999 whose process sleeps for a minute, probed by ``prober``."""
    spec = ServiceSpec.model_validate({"command": ["sleep"], "drain_delay": 0, "stop_timeout": 2, "probes": probes})

    def launch(s: InstanceSlot) -> InstanceProcess:
        argv = [sys.executable, "-c", "import time; time.sleep(60)"]
        return InstanceProcess.launch(argv, env=dict(os.environ), cwd=tmp_path, log_file=tmp_path / f"{s.id}.log")

    return InstanceSlot(
        service="web",
        index=1,
        port=7999,
        spec=spec,
        launcher=launch,
        prober=prober,  # type: ignore[arg-type]
        rotation=Rotation(registry),  # type: ignore[arg-type]
        policy=policy,
    )


@pytest.fixture
def prober() -> FakeProber:
    return FakeProber()


@pytest.fixture
def registry() -> MemoryRegistry:
    return MemoryRegistry()


@pytest.fixture
async def slot(tmp_path: Path, prober: FakeProber, registry: MemoryRegistry):
    probes = {"interval": 0.02, "failure_threshold": 2, "start_timeout": 5}
    policy = RestartPolicy(initial=0.05, cap=0.2, crashloop_restarts=3, crashloop_window=60)
    slot = sleeping_slot(tmp_path, registry, prober, probes=probes, policy=policy)
    yield slot
    await slot.stop()


async def test_ready_instance_joins_rotation(slot: InstanceSlot, registry: MemoryRegistry) -> None:
    slot.start()
    assert await slot.wait_ready(5)
    assert slot.state is SlotState.RUNNING
    assert registry.live["web-1"].port == 7999


async def test_readiness_failure_leaves_rotation_without_restart(slot, prober, registry) -> None:
    slot.start()
    assert await slot.wait_ready(5)
    pid = slot.process.pid
    prober.answers["/readyz"] = 503
    await wait_until(lambda: "web-1" not in registry.live, timeout=5)
    assert slot.state is SlotState.RUNNING
    assert not slot.ready
    prober.answers["/readyz"] = 200
    await wait_until(lambda: "web-1" in registry.live, timeout=5)
    assert slot.process.pid == pid
    assert slot.tracker.total == 0


async def test_liveness_failures_kill_and_restart_the_process(slot, prober) -> None:
    slot.start()
    assert await slot.wait_ready(5)
    first = slot.process
    prober.answers.update({"/readyz": None, "/livez": None})
    await wait_until(lambda: slot.tracker.total == 1, timeout=5)
    assert not first.alive()
    assert "liveness" in slot.last_reason
    prober.answers.update({"/readyz": 200, "/livez": 200})
    assert await slot.wait_ready(5)
    assert slot.process.pid != first.pid


async def test_an_exited_process_is_restarted_in_place(slot) -> None:
    slot.start()
    assert await slot.wait_ready(5)
    first = slot.process.pid
    os.kill(first, signal.SIGKILL)
    await wait_until(lambda: slot.process.pid != first and slot.ready, timeout=5)
    assert slot.tracker.total == 1
    assert slot.last_exit == -signal.SIGKILL
    assert (slot.id, slot.port) == ("web-1", 7999)


async def test_repeated_crashes_show_crashloop(slot, prober) -> None:
    prober.answers["/readyz"] = None  # never ready, so nothing clears the verdict
    slot.start()
    for _ in range(3):
        pid = (await wait_until(lambda: slot.process if slot.process and slot.process.alive() else None)).pid
        os.kill(pid, signal.SIGKILL)
        await wait_until(lambda p=pid: slot.process.pid != p, timeout=5)
    await wait_until(lambda: slot.tracker.total == 3, timeout=5)
    assert slot.state is SlotState.CRASHLOOP
    assert slot.view()["state"] == "crashloop"


async def test_a_taken_port_moves_the_instance_instead_of_failing_forever(slot) -> None:
    import socket

    from baton.control.ports import next_free_port

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        slot.port = squatter.getsockname()[1]
        slot._port_picker = lambda s: next_free_port("127.0.0.1", 20000, taken={slot.port})
        slot.start()
        assert await slot.wait_ready(5)
        assert slot.port != squatter.getsockname()[1]
        assert slot.instance.port == slot.port


async def test_stop_deregisters_then_ends_the_process(slot, registry) -> None:
    slot.start()
    assert await slot.wait_ready(5)
    process = slot.process
    await slot.stop()
    assert slot.state is SlotState.STOPPED
    assert "web-1" not in registry.live
    assert registry.events[-1] == ("deregister", "web-1")
    assert not process.alive()


async def test_rotation_attached_late_registers_what_is_already_ready(registry) -> None:
    rotation = Rotation()
    web = Instance(service="web", id="web-1", host="127.0.0.1", port=7999)
    await rotation.add(web)
    assert registry.live == {}
    await rotation.attach(registry)  # type: ignore[arg-type]
    assert registry.live == {"web-1": web}
    assert rotation.ready("web") == [web]


async def test_live_but_not_yet_ready_is_probed_at_the_startup_pace(tmp_path: Path, registry) -> None:
    """An instance answering /livez before /readyz (its dependencies still settling) is probed at the start-up
    pace until first ready: dependants wait on that readiness, so it must not fall back to the slow interval."""

    class SettlingProber:
        def __init__(self) -> None:
            self.not_ready = 3

        async def status(self, url: str, *, timeout: float) -> int | None:
            if url.endswith("/readyz") and self.not_ready:
                self.not_ready -= 1
                return 503
            return 200

    probes = {"interval": 3600, "start_timeout": 60}
    slot = sleeping_slot(tmp_path, registry, SettlingProber(), probes=probes, policy=RestartPolicy())
    try:
        slot.start()
        assert await slot.wait_ready(10)  # at the hour-long interval this would take three hours
        assert "web-1" in registry.live
    finally:
        await slot.stop()
