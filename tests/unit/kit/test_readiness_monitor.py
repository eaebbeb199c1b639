"""The readiness monitor: nothing announced before the server listens, flips reported, owned by the runtime."""

from __future__ import annotations

import pytest

from baton.kit import Service
from baton.kit.component import InstanceContext
from baton.kit.health import Readiness
from baton.kit.monitor import ReadinessListener, ReadinessMonitor
from baton.testing import wait_until


class Announcer:
    """A component that acts on readiness changes (stands in for discovery registration)."""

    name = "announcer"

    def __init__(self) -> None:
        self.events: list[str] = []
        self.fail_next = False

    async def start(self, ctx: InstanceContext) -> None:
        self.events.append("start")

    async def check(self) -> None:
        # Its own check fails while unannounced: the monitor must not let that keep it unannounced.
        if "ready" not in self.events:
            raise RuntimeError("not announced yet")

    async def mark_ready(self) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("registry unreachable")
        self.events.append("ready")

    async def mark_unready(self) -> None:
        self.events.append("unready")

    async def drain(self) -> None:
        self.events.append("drain")

    async def stop(self) -> None:
        self.events.append("stop")


def test_announcer_is_a_listener() -> None:
    assert isinstance(Announcer(), ReadinessListener)


async def test_flips_are_reported_once_each_and_a_failed_listener_is_retried() -> None:
    healthy = True

    async def db() -> None:
        if not healthy:
            raise RuntimeError("db down")

    readiness = Readiness()
    announcer = Announcer()
    readiness.add("db", db)
    readiness.add(announcer.name, announcer.check)
    monitor = ReadinessMonitor(readiness, [announcer], skip={announcer.name})

    assert await monitor.evaluate() is True
    assert await monitor.evaluate() is True
    assert announcer.events == ["ready"]  # told once, not on every evaluation
    healthy = False
    assert await monitor.evaluate() is False
    assert announcer.events == ["ready", "unready"]
    healthy = True
    announcer.fail_next = True
    await monitor.evaluate()  # the listener fails: the monitor keeps its state...
    assert (monitor.ready, announcer.events) == (False, ["ready", "unready"])
    await monitor.evaluate()  # ...and tries again on the next evaluation
    assert (monitor.ready, announcer.events) == (True, ["ready", "unready", "ready"])


async def test_service_announces_only_once_serving_and_ready_and_stops_the_monitor_on_drain(serving) -> None:
    service = Service("monitored")
    announcer = Announcer()
    service.add_component(announcer)
    maintenance = False

    @service.readiness_check("maintenance")
    async def in_maintenance() -> None:
        if maintenance:
            raise RuntimeError("in maintenance")

    async with serving(service) as client:
        runtime = service.runtime
        assert runtime is not None
        assert runtime.monitor is not None
        # Started and ready, but the server does not listen yet: nothing announced (the request gave the
        # monitor task every chance to run).
        assert (await client.get("/readyz")).status_code == 503  # the announcer's own check
        assert not runtime.serving.is_set()
        assert announcer.events == ["start"]

        service.mark_serving()
        await wait_until(lambda: announcer.events[-1:] == ["ready"], message="announced once serving")
        assert (await client.get("/readyz")).status_code == 200

        maintenance = True
        await wait_until(lambda: announcer.events[-1:] == ["unready"], message="withdrawn when unready")
        maintenance = False
        await wait_until(lambda: announcer.events[-1:] == ["ready"], message="announced again on recovery")

        task = runtime._monitor_task
        assert task is not None
        assert not task.done()
        await service.begin_shutdown()
        assert task.done()
        assert runtime._monitor_task is None
        assert announcer.events[-1] == "drain"
    assert announcer.events[-2:] == ["drain", "stop"]


async def test_no_monitor_without_listeners(serving) -> None:
    service = Service("plain")
    async with serving(service):
        assert service.runtime is not None
        assert service.runtime.monitor is None


@pytest.mark.parametrize(
    ("discovery_arg", "setting", "nats_url", "registers"),
    [
        (True, "nats_kv", "nats://127.0.0.1:1", True),
        (True, "off", "nats://127.0.0.1:1", False),
        (True, "dns", "nats://127.0.0.1:1", False),
        (False, "nats_kv", "nats://127.0.0.1:1", False),
        (True, "nats_kv", None, False),
    ],
)
def test_registration_is_added_only_with_a_bus_and_no_opt_out(
    instance_settings, discovery_arg, setting, nats_url, registers
) -> None:
    service = Service("choosy", discovery=discovery_arg)
    settings = instance_settings.model_copy(update={"discovery": setting, "nats_url": nats_url})
    component = service._registration_component(settings)
    assert (component is not None) is registers
    if component is not None:
        assert component.name == "discovery"


def test_baton_discovery_env_is_read(monkeypatch) -> None:
    from baton.kit import InstanceSettings

    monkeypatch.setenv("BATON_DISCOVERY", "off")
    assert InstanceSettings().discovery == "off"


async def test_retries_quickly_until_first_ready_then_keeps_its_interval() -> None:
    """A check failing at start-up (a dependency not yet listed) is retried at the start-up pace, not after a whole
    interval; once announced, the monitor evaluates at its own interval."""
    import asyncio

    from baton.kit.monitor import STARTUP_INTERVAL

    failures = 3
    evaluations = 0

    async def dependency() -> None:
        nonlocal failures, evaluations
        evaluations += 1
        if failures:
            failures -= 1
            raise RuntimeError("not listed yet")

    readiness = Readiness()
    announcer = Announcer()
    readiness.add("dependency:catalog", dependency)
    monitor = ReadinessMonitor(readiness, [announcer], interval=3600.0)  # a slow pace would never get there
    serving = asyncio.Event()
    serving.set()
    task = asyncio.create_task(monitor.run(serving))
    try:
        await wait_until(lambda: announcer.events == ["ready"], timeout=20 * STARTUP_INTERVAL * 4, message="announced")
        assert evaluations == 4
    finally:
        task.cancel()
