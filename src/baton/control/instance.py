"""One supervised replica ("slot"): keep its process alive and keep discovery truthful about it.

A slot owns one monitoring task. Each round it checks the process, then probes it:

* the process exited, or failed ``failure_threshold`` liveness probes in a row → it is (killed and) restarted
  after the :class:`~baton.control.backoff.RestartPolicy` delay, same id and port;
  ``crashloop`` is shown while restarts come too often;
* readiness fails → the instance leaves discovery (it keeps running); ready again → it is re-registered.

A slot restarts in place; the supervisor adds and removes slots (scale, rolling restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from baton.control.backoff import RestartPolicy, RestartTracker
from baton.control.launch import serves_tls, tls_enabled
from baton.control.manifest import ServiceSpec
from baton.control.ports import bindable
from baton.control.probe import Prober
from baton.control.process import InstanceProcess
from baton.control.rotation import Rotation

if TYPE_CHECKING:
    from baton.discovery.base import Instance

log = logging.getLogger("baton.control.instance")

DETACH_TIMEOUT = 10.0
"""Seconds :meth:`InstanceSlot.detach` waits for the cancelled supervising task (a backstop; it ends at once)."""

STARTUP_PROBE_INTERVAL = 0.05
"""Seconds between probes until an instance is first ready: start-up latency is what users feel."""


class SlotState(StrEnum):
    """Lifecycle of a slot as shown by ``baton ps``."""

    WAITING = "waiting"
    """Not started yet: its service's dependencies are not ready."""
    STARTING = "starting"
    RUNNING = "running"
    """Process alive (``ready`` says whether it is in rotation)."""
    BACKOFF = "backoff"
    """Exited or unhealthy; waiting for the restart delay."""
    CRASHLOOP = "crashloop"
    """Restarting too often; still retried at the capped delay."""
    STOPPING = "stopping"
    STOPPED = "stopped"


Launcher = Callable[["InstanceSlot"], InstanceProcess]
"""Starts the process of a slot (the supervisor knows the command, environment and log file)."""


class InstanceSlot:
    """One replica of a service, restarted in place with the same id and port."""

    def __init__(
        self,
        *,
        service: str,
        index: int,
        port: int,
        spec: ServiceSpec,
        launcher: Launcher,
        prober: Prober,
        port_picker: Callable[[InstanceSlot], int] | None = None,
        rotation: Rotation,
        policy: RestartPolicy,
        on_change: Callable[[], None] = lambda: None,
        track: str = "stable",
    ) -> None:
        self.service = service
        self.index = index
        self.id = f"{service}-{index}"
        self.port = port
        self.spec = spec
        self.version = spec.version
        self.track = track
        """``stable`` for the service's replicas; a release's new version runs beside them on another track."""
        self.tls = tls_enabled()
        """Whether the control plane gives instances credentials (its security is installed in this process)."""
        self.process: InstanceProcess | None = None
        self.state = SlotState.WAITING
        self.ready = False
        self.tracker = RestartTracker(policy)
        self.started_at = 0.0
        self.last_exit: int | None = None
        self.last_reason = ""
        self._launcher = launcher
        self._port_picker = port_picker
        self._prober = prober
        self._rotation = rotation
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self._ready_event = asyncio.Event()
        self._launched_at = 0.0
        self._ready_since = 0.0
        self._seen_live = False
        self._live_failures = 0

    @property
    def instance(self) -> Instance:
        """The discovery record of this slot."""
        # Imported on first use: baton.discovery pulls in nats-py and aiohttp, which the daemon loads only after
        # the instances were launched (start-up latency is on the critical path, see bench/startup.py).
        from baton.discovery.base import Instance

        return Instance(
            service=self.service, id=self.id, host="127.0.0.1", port=self.port, version=self.version, scheme=self.scheme
        )

    @property
    def scheme(self) -> str:
        """``https`` when the instance serves mutual TLS (the control plane runs its CA and the spec serves TLS)."""
        return "https" if self.tls and serves_tls(self.spec) else "http"

    @property
    def url(self) -> str:
        """Base URL of the instance."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, process: InstanceProcess | None = None) -> None:
        """Begin supervising: launch a process, or watch ``process`` (adopted from the state file)."""
        if self._task is not None:
            return
        if process is not None:
            self.process = process
            self.state = SlotState.STARTING
            self._launched_at = time.monotonic()
            self._seen_live = False
        self._task = asyncio.create_task(self._supervise(), name=f"supervise {self.id}")

    async def wait_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the slot to be ready; whether it is."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._ready_event.wait()
        return self.ready

    async def stop(self) -> None:
        """Leave discovery, then SIGTERM (the kit drains for ``drain_delay``), SIGKILL after ``stop_timeout``."""
        await self.detach()
        self.state = SlotState.STOPPING
        self.ready = False
        self._ready_event.clear()
        # Always deregister, even if we never saw it ready: the instance may have registered itself.
        await self._rotation.remove(self.instance)
        self._on_change()
        if self.process is not None:
            await self.process.stop(self.spec.drain_delay + self.spec.stop_timeout)
            self.last_exit = self.process.exit_code
        self.state = SlotState.STOPPED
        self._on_change()

    async def detach(self) -> None:
        """Stop supervising but leave the process running (the control plane is exiting, not the system)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # asyncio.wait, not `suppress(CancelledError): await task`, which would swallow a cancellation of
            # the caller too; bounded: the supervising task's own awaits end at cancellation, but a stop must
            # never hang on one that does not.
            await asyncio.wait({task}, timeout=DETACH_TIMEOUT)
            if not task.done():
                log.warning("%s: its supervising task did not stop within %gs", self.id, DETACH_TIMEOUT)

    def view(self) -> dict[str, Any]:
        """JSON view for the API, ``baton ps`` and the dashboard."""
        alive = self.process is not None and self.state in (SlotState.STARTING, SlotState.RUNNING)
        return {
            "id": self.id,
            "service": self.service,
            "index": self.index,
            "pid": self.process.pid if self.process is not None and alive else None,
            "port": self.port,
            "url": self.url,
            "state": str(self.state),
            "ready": self.ready,
            "restarts": self.tracker.total,
            "started_at": self.started_at or None,
            "uptime": round(time.time() - self.started_at, 1) if alive and self.started_at else None,
            "version": self.version,
            "track": self.track,
            "last_exit": self.last_exit,
            "reason": self.last_reason or None,
            "adopted": bool(self.process is not None and self.process.adopted),
        }

    async def _supervise(self) -> None:
        while True:
            if self.process is None:
                await self._launch()
            elif not self.process.alive():
                self.last_exit = self.process.exit_code
                await self._failed(f"exited with code {self.last_exit}")
                await self._launch()
            else:
                await self._probe()
            await asyncio.sleep(STARTUP_PROBE_INTERVAL if self._starting() else self.spec.probes.interval)

    def _starting(self) -> bool:
        """Probe fast until the instance is first ready (not merely live: dependants wait for readiness), within
        its start timeout."""
        if not self._seen_live:
            return True
        since_launch = time.monotonic() - self._launched_at
        return self._ready_since < self._launched_at and since_launch < self.spec.probes.start_timeout

    async def _launch(self) -> None:
        self._move_if_port_taken()
        while True:
            try:
                self.process = self._launcher(self)
            except OSError as exc:
                await self._failed(f"cannot start: {exc}")
                continue
            break
        now = time.monotonic()
        self._launched_at = now
        self.started_at = time.time()
        self._seen_live = False
        self._live_failures = 0
        if not self.tracker.crashlooping(now):
            self.state = SlotState.STARTING
        log.info("started %s pid=%s port=%s", self.id, self.process.pid, self.port)
        self._on_change()

    def _move_if_port_taken(self) -> None:
        # Restarts keep the port, unless something else grabbed it meanwhile (an outgoing connection's
        # ephemeral port, another program): then restarting in place would fail forever. Fixed ports stay.
        if self.spec.port is not None or self._port_picker is None or bindable("127.0.0.1", self.port):
            return
        old, self.port = self.port, self._port_picker(self)
        log.warning("%s: port %s is taken; moving to %s", self.id, old, self.port)

    async def _failed(self, reason: str) -> None:
        await self._set_ready(False)
        now = time.monotonic()
        delay = self.tracker.failed(now)
        self.last_reason = reason
        self.state = SlotState.CRASHLOOP if self.tracker.crashlooping(now) else SlotState.BACKOFF
        log.warning("%s %s; restart %d in %.1fs", self.id, reason, self.tracker.total, delay)
        self._on_change()
        await asyncio.sleep(delay)

    async def _probe(self) -> None:
        probes = self.spec.probes
        now = time.monotonic()
        ready_status = await self._prober.status(self.url + probes.readiness_path, timeout=probes.timeout)
        if ready_status == 200:
            live = True  # an instance that is ready is alive; saves a round trip per probe while healthy
        else:
            live = await self._prober.status(self.url + probes.liveness_path, timeout=probes.timeout) == 200
        if live:
            self._seen_live = True
            self._live_failures = 0
            if self.state is SlotState.STARTING:
                self.state = SlotState.RUNNING
                self._on_change()
        elif self._seen_live or now - self._launched_at > probes.start_timeout:
            self._live_failures += 1
            if self._live_failures >= probes.failure_threshold:
                await self._restart_unhealthy()
                return
        await self._set_ready(ready_status == 200)
        if self.ready:
            self.tracker.healthy_since(self._ready_since, now)

    async def _restart_unhealthy(self) -> None:
        assert self.process is not None
        reason = (
            f"failed {self._live_failures} liveness probes"
            if self._seen_live
            else f"not live within {self.spec.probes.start_timeout:g}s"
        )
        await self._set_ready(False)
        self.process.kill()
        await self.process.wait(5.0)
        self.last_exit = self.process.exit_code
        await self._failed(reason)
        await self._launch()

    async def _set_ready(self, ready: bool) -> None:
        if ready == self.ready:
            return
        self.ready = ready
        if ready:
            self.state = SlotState.RUNNING
            self._ready_since = time.monotonic()
            self.last_reason = ""
            self._ready_event.set()
            await self._rotation.add(self.instance)
        else:
            self._ready_event.clear()
            await self._rotation.remove(self.instance)
        log.info("%s %s rotation", self.id, "joined" if ready else "left")
        # Readiness is what dependants wait for (the supervisor's "serving" events): tell it, or a service whose
        # first probe found it live and ready at once would leave its dependants waiting forever.
        self._on_change()
