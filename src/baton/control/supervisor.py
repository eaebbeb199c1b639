"""The supervisor: the system's replicas as processes, in dependency order, kept alive and in rotation.

It owns one :class:`~baton.control.instance.InstanceSlot` per replica and the tasks that bring services up.
A service starts once each of its dependencies has a ready instance; independent services start in parallel.
``scale`` and rolling ``restart`` add the new replica and wait until it is ready before gracefully stopping
an old one, so callers watching discovery always have somewhere to go.

Releases (:mod:`baton.delivery`) run a second version of a service beside the stable replicas on another
*track*: :meth:`Supervisor.launch_track` starts its instances (same service name, their own spec and version in
discovery), :meth:`Supervisor.adopt_track` makes them the stable replicas and stops the old ones, and
:meth:`Supervisor.stop_track` stops them. ``scale`` and ``restart`` only ever touch the stable track.

Instances of ``module:`` services, and of ``command:`` services running one of Baton's own modules with this
interpreter (the gateway: :func:`~baton.control.zygote.forkable_command`), are forked from the zygote
(:mod:`baton.control.zygote`), started as early as the control plane can so that its preload overlaps the control
plane's own start-up; other ``command:`` services, and every instance while the zygote is unavailable or
``BATON_SPAWN=exec``, are spawned as processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from baton.control.adoption import adopt_instances, kill_strays
from baton.control.backoff import RestartPolicy
from baton.control.home import DEFAULT_PORT_BASE, Home
from baton.control.instance import InstanceSlot, SlotState
from baton.control.launch import LaunchContext, SecretsSource, argv_for, cwd_for, environment_for
from baton.control.manifest import Manifest, ServiceSpec
from baton.control.ports import next_free_port
from baton.control.probe import HttpProber, Prober
from baton.control.process import InstanceProcess
from baton.control.rotation import Rotation
from baton.control.state import InstanceRecord, ProcessRecord, ScaleOverride, StateFile, SupervisorState
from baton.control.zygote import (
    INSTANCE_DEFAULTS,
    ForkServer,
    ZygoteUnavailable,
    fork_enabled,
    forkable_command,
    start_fork_server,
)
from baton.errors import ControlError

log = logging.getLogger("baton.control.supervisor")

STABLE = "stable"
"""The track of a service's regular replicas (what ``scale`` and ``restart`` manage)."""


@dataclass(frozen=True, slots=True)
class SupervisorOptions:
    """Knobs of the supervisor (tests shrink the ports and timeouts)."""

    port_base: int = DEFAULT_PORT_BASE
    """First port handed to instances without a fixed port."""
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    ready_timeout: float = 60.0
    """Seconds a replica added by ``scale``/``restart`` gets to become ready before the operation fails."""


class Supervisor:
    """Runs the services of a manifest as supervised processes."""

    def __init__(
        self,
        ctx: LaunchContext,
        *,
        home: Home,
        rotation: Rotation | None = None,
        options: SupervisorOptions | None = None,
        prober: Prober | None = None,
        secrets: SecretsSource | None = None,
        zygote: ForkServer | None = None,
    ) -> None:
        """``zygote``: one already started (:func:`start_zygote`, by a daemon as early as it can); without it the
        supervisor starts its own when the manifest has ``module:`` services and forking is on."""
        self.ctx = ctx
        self.home = home
        self.rotation = rotation or Rotation()
        self.options = options or SupervisorOptions()
        self.slots: dict[str, list[InstanceSlot]] = {name: [] for name in ctx.manifest.services}
        self.nats: ProcessRecord | None = None
        """The embedded NATS process, persisted so ``down`` can stop it after a control-plane crash."""
        self._prober = prober or HttpProber()
        self._owns_prober = prober is None
        self._secrets = secrets
        self._state_file = StateFile(home.state_file)
        self._overrides: dict[str, ScaleOverride] = {}
        self._locks = {name: asyncio.Lock() for name in ctx.manifest.services}
        self._started = {name: asyncio.Event() for name in ctx.manifest.services}
        self._serving = {name: asyncio.Event() for name in ctx.manifest.services}
        self._bring_up: list[asyncio.Task[None]] = []
        self._saved: object = None
        self._track_specs: dict[tuple[str, str], ServiceSpec] = {}
        self._zygote: ForkServer | None = zygote
        self._zygote_ready: asyncio.Future[bool] | None = None
        if zygote is None and wants_zygote(ctx.manifest):
            self._start_zygote()
        self._file_manifest = ctx.manifest
        """The manifest as read at start (``ctx`` changes as releases land)."""

    @property
    def manifest(self) -> Manifest:
        """The manifest being run."""
        return self.ctx.manifest

    def desired(self, service: str) -> int:
        """Replicas wanted for ``service``: a live ``scale`` wins until the manifest's own count changes."""
        spec = self.manifest.services[service]
        override = self._overrides.get(service)
        if override is not None and override.manifest_replicas == spec.replicas:
            return override.replicas
        return spec.replicas

    async def start(self) -> None:
        """Re-adopt what still runs from the state file, drop strays, then bring every service up."""
        saved = self._state_file.load()
        self._overrides = dict(saved.scale)
        adopted = await adopt_instances(saved, self.manifest, self._new_slot)
        self._restore_specs(saved, [slot for slot, _ in adopted])
        for slot, process in adopted:
            self.slots[slot.service].append(slot)
            slot.start(process)
        known = {slot.process.pid for slot in self._all() if slot.process is not None}
        if self._zygote is not None and self._zygote.pid is not None:
            known.add(self._zygote.pid)
        await kill_strays(self.home.root, keep=known)
        for service in self.slots:
            surplus = self._active(service)[self.desired(service) :]
            # A track whose spec was not saved cannot be restarted correctly: it goes too.
            surplus += [
                s for s in self.slots[service] if s.track != STABLE and (service, s.track) not in self._track_specs
            ]
            await self._stop_slots(service, surplus)
        self.save()
        for service in self.manifest.services:
            self._fill(service)
            self._bring_up.append(asyncio.create_task(self._bring_up_service(service), name=f"up {service}"))

    def _restore_specs(self, saved: SupervisorState, adopted: list[InstanceSlot]) -> None:
        """Keep running what ran: the saved specs of re-adopted instances (a rollout's two versions) win over the
        manifest, which already names the new version. Specs nothing re-adopted still runs are dropped."""
        for slot in adopted:
            try:
                if slot.track != STABLE:
                    data = saved.tracks.get(slot.service, {}).get(slot.track)
                    if data is not None and (slot.service, slot.track) not in self._track_specs:
                        self._track_specs[(slot.service, slot.track)] = ServiceSpec.model_validate(data)
                    slot.spec = self._track_specs.get((slot.service, slot.track), slot.spec)
                elif slot.service in saved.specs:
                    spec = ServiceSpec.model_validate(saved.specs[slot.service])
                    if spec.version == slot.version and spec != self._spec(slot.service):
                        self.ctx = _with_service(self.ctx, slot.service, spec)
                        slot.spec = spec
            except ValueError as exc:  # a spec saved by another Baton version: the manifest's then
                log.warning("ignoring the saved spec of %s: %s", slot.id, exc)

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until every wanted replica is ready; whether that happened within ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for slot in list(self._all()):
                    await slot.wait_ready(timeout)
        return all(slot.ready for slot in self._all())

    async def scale(self, service: str, replicas: int) -> None:
        """Run ``replicas`` instances of ``service``, live; new ones are ready before this returns.

        Raises:
            ControlError: unknown service, invalid count, or a new replica did not become ready.
        """
        spec = self._spec(service)
        if replicas < 0 or replicas > 64:
            raise ControlError(f"replicas must be between 0 and 64, not {replicas}")
        if spec.port is not None and replicas > 1:
            raise ControlError(f"service '{service}' has a fixed port; it runs at most one replica")
        async with self._locks[service]:
            self._overrides[service] = ScaleOverride(replicas=replicas, manifest_replicas=spec.replicas)
            active = self._active(service)
            if replicas < len(active):
                await self._stop_slots(service, active[replicas:])
            added = self._fill(service)
            if added and self._started[service].is_set():
                for slot in added:
                    slot.start()
                await self._require_ready(added)
            self.save()

    async def restart(self, service: str, *, spec: ServiceSpec | None = None) -> None:
        """Rolling restart of ``service`` (one replica at a time), optionally with a new ``spec``.

        Raises:
            ControlError: unknown service, or a new replica did not become ready (the old one keeps serving).
        """
        self._spec(service)
        async with self._locks[service]:
            if spec is not None:
                self.ctx = _with_service(self.ctx, service, spec)
            current = self._spec(service)
            for old in list(self._active(service)):
                if current.port is not None:
                    # A fixed port cannot be shared: restart in place (a short gap is unavoidable).
                    await self._stop_slots(service, [old])
                    new = self._add_slot(service, port=current.port)
                    new.start()
                    await self._require_ready([new])
                    continue
                new = self._add_slot(service)
                new.start()
                try:
                    await self._require_ready([new])
                except ControlError:
                    await self._stop_slots(service, [new])
                    raise
                await self._stop_slots(service, [old])
            self.save()

    async def launch_track(self, service: str, spec: ServiceSpec, *, track: str, replicas: int) -> list[InstanceSlot]:
        """Start ``replicas`` instances of ``service`` running ``spec`` beside the stable ones; ready on return.

        Raises:
            ControlError: unknown service, a fixed-port service, a track already running, or an instance that
                did not become ready (the track's instances are stopped again).
        """
        current = self._spec(service)
        if track == STABLE:
            raise ControlError("the stable track is managed by scale and restart")
        if current.port is not None or spec.port is not None:
            raise ControlError(f"service '{service}' has a fixed port; two versions cannot run side by side")
        async with self._locks[service]:
            if self.track_slots(service, track):
                raise ControlError(f"service '{service}' already runs a '{track}' track")
            self._track_specs[(service, track)] = spec
            added = [self._add_slot(service, track=track) for _ in range(max(1, replicas))]
            for slot in added:
                slot.start()
            try:
                await self._require_ready(added)
            except ControlError:
                await self._stop_slots(service, added)
                self._track_specs.pop((service, track), None)
                raise
            self.save()
            return added

    async def stop_track(self, service: str, track: str) -> None:
        """Gracefully stop the instances of ``track`` (leave discovery, drain, SIGTERM)."""
        self._spec(service)
        async with self._locks[service]:
            await self._stop_slots(service, self.track_slots(service, track))
            self._track_specs.pop((service, track), None)
            self.save()

    async def adopt_track(self, service: str, track: str) -> None:
        """Make ``track`` the stable replicas of ``service`` (its spec becomes the service's) and stop the old ones.

        Raises:
            ControlError: no such track runs.
        """
        self._spec(service)
        async with self._locks[service]:
            spec = self._track_specs.get((service, track))
            new = self.track_slots(service, track)
            if spec is None or not new:
                raise ControlError(f"service '{service}' runs no '{track}' track")
            old = self._active(service)
            self.ctx = _with_service(self.ctx, service, spec)
            for slot in new:
                slot.track = STABLE
            del self._track_specs[(service, track)]
            # A live scale was about the old spec's replica count; the new version keeps the count it runs with.
            self._overrides[service] = ScaleOverride(replicas=len(new), manifest_replicas=spec.replicas)
            await self._stop_slots(service, old)
            self.save()

    def track_slots(self, service: str, track: str) -> list[InstanceSlot]:
        """Live instances of ``service`` on ``track``, in index order."""
        alive = [
            s
            for s in self.slots.get(service, [])
            if s.track == track and s.state not in (SlotState.STOPPING, SlotState.STOPPED)
        ]
        return sorted(alive, key=lambda s: s.index)

    def running_spec(self, service: str) -> ServiceSpec:
        """The spec the stable replicas of ``service`` run (the manifest's, or the last adopted release's).

        Raises:
            ControlError: unknown service.
        """
        return self._spec(service)

    async def stop_all(self) -> None:
        """Stop every instance gracefully, dependents before their dependencies."""
        await self._cancel_bring_up()
        for layer in reversed(self.manifest.start_order()):
            await asyncio.gather(*(self._stop_slots(name, list(self.slots[name])) for name in layer))
        self.save()
        await self._close_zygote()

    async def detach(self) -> None:
        """Stop supervising but leave every instance running; the next control plane re-adopts them."""
        await self._cancel_bring_up()
        await asyncio.gather(*(slot.detach() for slot in self._all()))
        self.save()
        await self._close_zygote()
        if self._owns_prober and isinstance(self._prober, HttpProber):
            await self._prober.aclose()

    def views(self) -> list[dict[str, Any]]:
        """JSON views of every instance, in service then index order."""
        return [slot.view() for name in self.slots for slot in sorted(self.slots[name], key=lambda s: s.index)]

    def services_view(self) -> list[dict[str, Any]]:
        """Per-service summary: wanted and ready replicas, dependencies, version."""
        return [
            {
                "service": name,
                "replicas": self.desired(name),
                "ready": sum(1 for s in self.slots[name] if s.ready and s.track == STABLE),
                "version": spec.version,
                "depends_on": list(spec.depends_on),
                "port": spec.port,
            }
            for name, spec in self.manifest.services.items()
        ]

    async def _bring_up_service(self, service: str) -> None:
        for dep in self._spec(service).depends_on:
            await self._serving[dep].wait()
        spec = self._spec(service)
        if spec.module is not None or forkable_command(argv_for(spec)) is not None:
            await self._wait_zygote()
        async with self._locks[service]:
            self._started[service].set()
            for slot in self._active(service):
                slot.start()

    async def _require_ready(self, slots: list[InstanceSlot]) -> None:
        timeout = self.options.ready_timeout
        results = await asyncio.gather(*(slot.wait_ready(timeout) for slot in slots))
        late = [slot.id for slot, ok in zip(slots, results, strict=True) if not ok]
        if late:
            raise ControlError(f"{', '.join(late)} did not become ready within {timeout:g}s; see `baton logs`")

    def _fill(self, service: str) -> list[InstanceSlot]:
        spec = self._spec(service)
        added = []
        while len(self._active(service)) < self.desired(service):
            added.append(self._add_slot(service, port=spec.port))
        return added

    def _add_slot(self, service: str, *, port: int | None = None, track: str = "stable") -> InstanceSlot:
        used = {slot.index for slot in self.slots[service]}
        index = next(i for i in range(1, len(used) + 2) if i not in used)
        slot = self._new_slot(service, index, port if port is not None else self._free_port(), track=track)
        self.slots[service].append(slot)
        return slot

    def _new_slot(self, service: str, index: int, port: int, *, track: str = "stable") -> InstanceSlot:
        return InstanceSlot(
            service=service,
            index=index,
            port=port,
            spec=self._spec(service),
            launcher=self._launch,
            port_picker=self._free_port,
            prober=self._prober,
            rotation=self.rotation,
            policy=self.options.restart,
            on_change=self._changed,
            track=track,
        )

    def _launch(self, slot: InstanceSlot) -> InstanceProcess:
        spec = self._track_specs.get((slot.service, slot.track)) or self._spec(slot.service)
        slot.spec, slot.version = spec, spec.version
        env = environment_for(
            self.ctx, service=slot.service, instance=slot.id, port=slot.port, spec=spec, secrets=self._secrets
        )
        for key, value in INSTANCE_DEFAULTS.items():
            env.setdefault(key, value)
        cwd, log_file = cwd_for(spec, self.ctx), self.home.log_file(slot.id)
        zygote = self._zygote
        argv = argv_for(spec)
        command = None if spec.module is not None else forkable_command(argv)
        if (spec.module is not None or command is not None) and zygote is not None:
            if zygote.ready:
                try:
                    target = spec.module or ""
                    return InstanceProcess.fork(zygote, target, env=env, cwd=cwd, log_file=log_file, argv=command)
                except ZygoteUnavailable as exc:
                    log.warning("%s: spawning instead of forking: %s", slot.id, exc)
            if zygote.failed:
                # It died after it had worked (a crash, an OOM kill): a new one serves the next launches.
                self._start_zygote()
        return InstanceProcess.launch(argv, env=env, cwd=cwd, log_file=log_file)

    def _start_zygote(self) -> None:
        self._zygote, self._zygote_ready = start_zygote(self.home), None

    async def _wait_zygote(self) -> None:
        """Wait for the zygote's preload (shared by every service being brought up); spawning is the fallback."""
        zygote = self._zygote
        if zygote is None or zygote.ready:
            return
        if self._zygote_ready is None:
            self._zygote_ready = asyncio.ensure_future(asyncio.to_thread(zygote.wait_ready))
        if not await asyncio.shield(self._zygote_ready):
            log.warning("the zygote did not become ready; instances are spawned (see %s)", self.home.log_file("zygote"))

    async def _close_zygote(self) -> None:
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            await asyncio.to_thread(zygote.close)

    async def _stop_slots(self, service: str, slots: Iterable[InstanceSlot]) -> None:
        victims = list(slots)
        await asyncio.gather(*(slot.stop() for slot in victims))
        self.slots[service] = [slot for slot in self.slots[service] if slot not in victims]
        self._changed()

    def _changed(self) -> None:
        for name, slots in self.slots.items():
            if any(slot.ready for slot in slots):
                self._serving[name].set()
        self.save(only_if_changed=True)

    def save(self, *, only_if_changed: bool = False) -> None:
        """Write ``state.json`` (skipped when ``only_if_changed`` and nothing persisted changed)."""
        records = [
            InstanceRecord(
                id=slot.id,
                service=slot.service,
                index=slot.index,
                port=slot.port,
                version=slot.version,
                pid=slot.process.pid,
                create_time=slot.process.record.create_time,
                restarts=slot.tracker.total,
                started_at=slot.started_at,
                track=slot.track,
            )
            for slot in self._all()
            if slot.process is not None and slot.state is not SlotState.STOPPED
        ]
        tracks: dict[str, dict[str, dict[str, Any]]] = {}
        for (service, track), spec in self._track_specs.items():
            tracks.setdefault(service, {})[track] = spec.model_dump(mode="json")
        specs = {
            name: spec.model_dump(mode="json")
            for name, spec in self.manifest.services.items()
            if spec != self._file_manifest.services.get(name)
        }
        state = SupervisorState(
            instances=records, nats=self.nats, scale=dict(self._overrides), specs=specs, tracks=tracks
        )
        snapshot = state.to_json()
        if only_if_changed and snapshot == self._saved:
            return
        self._state_file.save(state)
        self._saved = snapshot

    def _free_port(self, slot: InstanceSlot | None = None) -> int:
        taken = {s.port for s in self._all() if s is not slot}
        taken |= {spec.port for spec in self.manifest.services.values() if spec.port is not None}
        return next_free_port(self.ctx.host, self.options.port_base, taken=taken)

    def _active(self, service: str) -> list[InstanceSlot]:
        return self.track_slots(service, STABLE)

    def _all(self) -> list[InstanceSlot]:
        return [slot for slots in self.slots.values() for slot in slots]

    def _spec(self, service: str) -> ServiceSpec:
        spec = self.manifest.services.get(service)
        if spec is None:
            known = ", ".join(sorted(self.manifest.services))
            raise ControlError(f"unknown service '{service}' (services: {known})")
        return spec

    async def _cancel_bring_up(self) -> None:
        tasks, self._bring_up = self._bring_up, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def wants_zygote(manifest: Manifest) -> bool:
    """Whether instances of ``manifest`` are forked: ``BATON_SPAWN`` allows it and some service is a ``module:``."""
    return fork_enabled() and any(spec.module is not None for spec in manifest.services.values())


def start_zygote(home: Home) -> ForkServer | None:
    """Start a zygote for ``home`` (it preloads in the background); ``None`` when it cannot be started."""
    return start_fork_server(home.root, home.log_file("zygote"))


def _with_service(ctx: LaunchContext, service: str, spec: ServiceSpec) -> LaunchContext:
    services = {**ctx.manifest.services, service: spec}
    manifest = ctx.manifest.model_copy(update={"services": services})
    # Every other field carries over (credentials, telemetry and TLS URLs): a release's instances are the system's.
    return dataclasses.replace(ctx, manifest=manifest)
