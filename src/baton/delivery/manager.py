"""The control plane's rollout manager: one runner per service being released, and what happened before.

``start(service)`` re-reads ``baton.yaml``; when the service's spec there differs from what runs, the release
follows the service's ``rollouts:`` strategy:

* ``rolling`` — the supervisor's rolling restart with the new spec;
* ``canary`` / ``blue_green`` — a :class:`~baton.delivery.runner.RolloutRunner` with the supervisor as fleet, the
  gateway overlay as router, the service's instances scraped for analysis, incidents and webhooks as hooks.

Rollouts survive a control-plane restart (even ``kill -9``), as Argo's survive a controller restart: every change
is saved to ``$BATON_HOME/rollouts.json`` (:mod:`~baton.delivery.journal`), the supervisor re-adopts the new
version's instances on their release track, and :meth:`RolloutManager.resume` carries each saved rollout on from
its step, weight and preview token. A saved rollout whose new instances did not survive is rolled back with an
incident; a release track without a saved rollout is stopped, and the overlay and discovery keep the traffic
splits of resumed rollouts only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from baton.control.manifest import Manifest, ServiceSpec
from baton.control.supervisor import Supervisor
from baton.delivery.fleet import RELEASE_TRACK, SupervisorFleet
from baton.delivery.journal import Journal, RolloutJournal, SavedRollout
from baton.delivery.observation import LiveAnalyzer
from baton.delivery.policy import RolloutPolicy
from baton.delivery.preview import gateway_preview, preview_path
from baton.delivery.runner import RolloutHooks, RolloutRunner
from baton.delivery.state import Phase, RolloutState
from baton.delivery.traffic import DiscoveryRouter, FanOut, OverlayRouter, new_tester_token, preview_headers
from baton.errors import DeliveryError
from baton.telemetry.alerts import Alert
from baton.telemetry.incident_store import IncidentStore
from baton.telemetry.incidents import Incident
from baton.telemetry.slo import slos_from_mapping

__all__ = ["RolloutManager"]

log = logging.getLogger("baton.delivery.manager")

HISTORY = 10
"""Finished rollouts remembered per service."""


class RolloutManager:
    """Starts, follows and commands the rollouts of one running system."""

    def __init__(
        self,
        supervisor: Supervisor,
        *,
        home: Path,
        manifest: Callable[[], Manifest],
        gateway_url: str | None = None,
        incidents: IncidentStore | None = None,
        publish: Callable[[str, dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Args:
        supervisor: runs the instances (the new version on a release track).
        home: the system's data directory (the gateway overlay lives there).
        manifest: re-reads ``baton.yaml`` (a release starts from what the file says now).
        gateway_url: the system's gateway; ``None`` when it has none (weights are then not enforced).
        incidents: where a failed analysis opens an incident.
        publish: live-update hook of the dashboard (``event, data``).
        """
        self.supervisor = supervisor
        self.home = home
        self.load_manifest = manifest
        self.gateway_url = gateway_url
        self.incidents = incidents
        self.publish = publish
        self.clock = clock
        self.router = OverlayRouter(home, wait=gateway_url is not None)
        """The gateway's overlay: the public traffic's split and the preview route."""
        self.fleet = SupervisorFleet(supervisor)
        self.runners: dict[str, RolloutRunner] = {}
        self.history: dict[str, list[RolloutState]] = {}
        self.previous: dict[str, ServiceSpec] = {}
        """The spec each service ran before its last completed release (what ``undo`` goes back to)."""
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self.journal = RolloutJournal(home)
        self._saved = self.journal.load()
        """What the previous control plane left running (:meth:`resume` takes it over)."""
        self.history.update(self._saved.history)
        self._policies: dict[str, dict[str, Any] | None] = {}

    def resume(self) -> list[str]:
        """Take over the rollouts a previous control plane saved (call once, in the event loop); the services
        whose rollout carries on.

        A saved rollout whose new instances still run resumes; one whose instances are gone ends rolled back with an
        incident; a release track without a saved rollout is stopped; the gateway overlay and the traffic splits in
        discovery keep only the resumed.
        """
        saved, self._saved = self._saved, Journal()
        resumed: list[str] = []
        for service, item in saved.active.items():
            state = item.state
            if state.done:
                self._remember(state)
                continue
            alive = self.supervisor.track_slots(service, RELEASE_TRACK) if service in self._services() else []
            if alive:
                try:
                    runner = self._restored(item)
                except Exception as exc:  # a manifest that lost the service, an unparsable spec...
                    log.warning("cannot resume the rollout of %s: %s", service, exc)
                else:
                    self.runners[service] = runner
                    if item.previous is not None:
                        self.previous[service] = ServiceSpec.model_validate(item.previous)
                    self._spawn(service, runner.resume())
                    resumed.append(service)
                    continue
            state.weight = 0
            state.finish(
                self.clock(), Phase.ROLLED_BACK,
                f"the control plane restarted and {state.new_version}'s instances did not survive; back on "
                f"{state.stable_version}",
            )  # fmt: skip
            self._remember(state)
            self._spawn(f"{service} incident", self._incident(state))
        for service in self._services():
            if service not in resumed and self.supervisor.track_slots(service, RELEASE_TRACK):
                log.info("stopping the release track of %s: no saved rollout runs it", service)
                self._spawn(f"{service} cleanup", self.supervisor.stop_track(service, RELEASE_TRACK))
        # Whatever an earlier control plane routed for rollouts that do not carry on is void: at the edge, and in
        # discovery, where its split outlives it on purpose (callers keep it while nobody supervises).
        self.router.keep(resumed)
        for service in saved.active:
            if service not in resumed:
                self._spawn(f"{service} split", DiscoveryRouter(self.supervisor.rotation).route(service, None))
        self._save()
        return resumed

    # commands -------------------------------------------------------------------------------------------

    async def start(
        self, service: str, *, strategy: str | None = None, spec: ServiceSpec | None = None
    ) -> RolloutState:
        """Release what ``baton.yaml`` (or ``spec``) says for ``service`` with its strategy (or ``strategy``).

        Raises:
            DeliveryError: unknown service, nothing new to release, a rollout already running, or a canary /
                blue-green release without a new ``version``.
        """
        manifest = self.load_manifest()
        wanted = spec or manifest.services.get(service)
        if wanted is None:
            raise DeliveryError(f"unknown service '{service}' in baton.yaml")
        current = self.runners.get(service)
        if current is not None and not current.state.done:
            raise DeliveryError(
                f"a rollout of {service} is {current.state.phase}; `baton rollout promote` or `abort` it first"
            )
        if current is not None:
            self._remember(current.state)
            del self.runners[service]
        running = self.supervisor.running_spec(service)
        if wanted == running:
            raise DeliveryError(
                f"nothing to release: {service} already runs version {running.version} as baton.yaml describes",
                hint="change the service (its version, env or module) in baton.yaml first",
            )
        policy = RolloutPolicy.from_spec(manifest.rollouts.get(service))
        if strategy is not None:
            if strategy not in ("rolling", "canary", "blue_green"):
                raise DeliveryError(f"unknown strategy '{strategy}' (rolling, canary or blue_green)")
            policy = _with_strategy(policy, strategy)
        state = RolloutState(
            service=service,
            strategy=policy.strategy,
            stable_version=running.version,
            new_version=wanted.version,
            started_at=self.clock(),
        )
        if policy.strategy == "rolling":
            self._spawn(service, self._rolling(state, wanted, running))
            return state
        if wanted.version == running.version:
            raise DeliveryError(
                f"{service}: a {policy.strategy} release needs a new version (both are {running.version}); "
                "bump `version` in baton.yaml so the gateway can tell the two apart"
            )
        if running.port is not None:
            raise DeliveryError(f"{service} has a fixed port: it can only be released with the rolling strategy")
        self._policies[service] = _policy_json(manifest, service)
        runner = self._runner(state, wanted, policy, manifest, token=new_tester_token())
        self.runners[service] = runner
        self.previous[service] = running
        self._spawn(service, runner.run())
        return state

    async def promote(self, service: str, *, full: bool = False) -> RolloutState:
        """Skip the current step (``full``: all of them); blue-green: switch, or stop the warm old version.

        Raises:
            DeliveryError: no rollout of ``service`` is running.
        """
        return await self._active(service).promote(full=full)

    async def abort(self, service: str) -> RolloutState:
        """Traffic back to the stable version, the new one stopped.

        Raises:
            DeliveryError: no rollout of ``service`` is running.
        """
        return await self._active(service).abort()

    async def undo(self, service: str) -> RolloutState:
        """Blue-green while the old version is warm: switch back at once. After a finished release: release the
        previous spec again (with the service's strategy).

        Raises:
            DeliveryError: nothing to undo.
        """
        runner = self.runners.get(service)
        if runner is not None and not runner.state.done:
            return await runner.undo()
        previous = self.previous.get(service)
        if runner is None or previous is None or runner.state.phase is not Phase.HEALTHY:
            raise DeliveryError(f"nothing to undo for {service}: no finished release by this control plane")
        return await self.start(service, spec=previous)

    def preview(self, service: str) -> dict[str, str]:
        """The headers a tester sends to reach the new version of ``service`` through the gateway.

        Raises:
            DeliveryError: no rollout of ``service`` is running.
        """
        return preview_headers(self._active(service).token)

    # views ----------------------------------------------------------------------------------------------

    def status(self, service: str | None = None) -> list[dict[str, Any]]:
        """The current (or last) rollout of every service, or of ``service``, newest first."""
        found: list[RolloutState] = []
        for name in sorted(set(self.runners) | set(self.history)):
            if service is not None and name != service:
                continue
            runner = self.runners.get(name)
            if runner is not None:
                found.append(runner.state)
            elif self.history.get(name):
                found.append(self.history[name][-1])
        return [self._view(s) for s in sorted(found, key=lambda s: s.started_at, reverse=True)]

    def _view(self, state: RolloutState) -> dict[str, Any]:
        view = state.as_dict()
        stable, new = self.fleet.members(state.service)
        view["instances"] = {
            "stable": [{"id": m.id, "version": m.version, "ready": m.ready} for m in stable],
            "new": [{"id": m.id, "version": m.version, "ready": m.ready} for m in new],
        }
        view["history"] = [s.as_dict() | {"events": []} for s in self.history.get(state.service, [])[:-1]]
        return view

    async def wait(self, service: str, timeout: float) -> RolloutState | None:
        """Wait up to ``timeout`` seconds for the rollout of ``service`` to end; its state (``None``: none ran)."""
        task = self._tasks.get(service)
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout)
        runner = self.runners.get(service)
        if runner is not None:
            return runner.state
        past = self.history.get(service)
        return past[-1] if past else None

    async def aclose(self) -> None:
        """Cancel the running rollouts (the next control plane voids their overlay)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # internals ------------------------------------------------------------------------------------------

    def _active(self, service: str) -> RolloutRunner:
        runner = self.runners.get(service)
        if runner is None or runner.state.done:
            raise DeliveryError(f"no rollout of {service} is running; start one with `baton rollout start {service}`")
        return runner

    def _services(self) -> list[str]:
        return list(self.supervisor.manifest.services)

    def _restored(self, saved: SavedRollout) -> RolloutRunner:
        from baton.control.manifest.sections import RolloutSpec

        manifest = self.load_manifest()
        service = saved.state.service
        rollout = RolloutSpec.model_validate(saved.policy) if saved.policy is not None else None
        policy = _with_strategy(RolloutPolicy.from_spec(rollout), saved.state.strategy)
        self._policies[service] = saved.policy
        spec = ServiceSpec.model_validate(saved.spec)
        return self._runner(saved.state, spec, policy, manifest, token=saved.token)

    def _save(self) -> None:
        journal = Journal(history={name: states[-HISTORY:] for name, states in self.history.items()})
        for service, runner in self.runners.items():
            if runner.state.done:
                continue
            previous = self.previous.get(service)
            journal.active[service] = SavedRollout(
                state=runner.state,
                spec=runner.spec.model_dump(mode="json"),
                previous=previous.model_dump(mode="json") if previous is not None else None,
                policy=self._policies.get(service),
                token=runner.token,
            )
        try:
            self.journal.save(journal)
        except OSError as exc:
            log.warning("cannot save %s: %s", self.journal.path, exc)

    def _runner(
        self, state: RolloutState, spec: ServiceSpec, policy: RolloutPolicy, manifest: Manifest, *, token: str
    ) -> RolloutRunner:
        service = state.service
        analyzer = LiveAnalyzer(
            service,
            lambda: self.fleet.members(service),
            policy=policy.analysis,
            slos=slos_from_mapping(manifest.slos),
            clock=self.clock,
        )
        path = preview_path(manifest.routes, service)
        preview = None
        if self.gateway_url is not None and path is not None:
            preview = gateway_preview(self.gateway_url, path, requests=policy.blue_green.preview_requests)
        return RolloutRunner(
            state,
            spec=spec,
            replicas=self.supervisor.desired(service),
            policy=policy,
            fleet=self.fleet,
            # The edge, then discovery: callers inside the system send the new version its share too.
            router=FanOut(self.router, DiscoveryRouter(self.supervisor.rotation)),
            analyzer=analyzer,
            preview=preview,
            token=token,
            hooks=RolloutHooks(event=self._event(policy.webhooks), failed=self._incident, changed=self._changed),
            clock=self.clock,
        )

    def _spawn(self, service: str, work: Any) -> None:
        async def run() -> None:
            try:
                await work
            finally:
                runner = self.runners.get(service)
                if runner is not None and runner.state.done:
                    self._remember(runner.state)

        self._tasks[service] = asyncio.create_task(run(), name=f"rollout {service}")

    def _remember(self, state: RolloutState) -> None:
        past = self.history.setdefault(state.service, [])
        if not past or past[-1] is not state:
            past.append(state)
        del past[:-HISTORY]
        self._save()

    def _changed(self, state: RolloutState) -> None:
        self._save()

    async def _rolling(self, state: RolloutState, spec: ServiceSpec, running: ServiceSpec) -> None:
        self.previous[state.service] = running
        state.weight = 100
        state.note(self.clock(), "started", f"rolling restart of {state.service} to {state.new_version}")
        self._remember(state)
        try:
            await self.supervisor.restart(state.service, spec=spec)
        except Exception as exc:
            state.finish(self.clock(), Phase.ROLLED_BACK, f"rolling restart failed: {exc}")
            return
        state.finish(self.clock(), Phase.HEALTHY, f"{state.new_version} rolled out, one replica at a time")

    def _event(self, webhooks: Sequence[str]) -> Callable[[RolloutState, dict[str, Any]], Any]:
        async def on_event(state: RolloutState, event: dict[str, Any]) -> None:
            if self.publish is not None:
                self.publish("rollout", {"service": state.service, "phase": str(state.phase), **event})
            if not webhooks:
                return
            body = {"event": event["kind"], "rollout": state.as_dict(), "sent_at": self.clock()}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as session:
                for url in webhooks:
                    try:
                        async with session.post(url, json=body) as response:
                            await response.read()
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        log.warning("rollout webhook %s failed: %s", url, exc)

        return on_event

    async def _incident(self, state: RolloutState) -> None:
        if self.incidents is None:
            return
        now = self.clock()
        deploy = f"{state.service}@{state.new_version}"
        alert = Alert(
            key=f"rollout:{deploy}",
            service=state.service,
            severity="page",
            summary=f"rollout of {deploy} rolled back: {state.message}",
            deploy=deploy,
            labels={"rollout": state.strategy, "stable": state.stable_version},
        )
        incident = Incident(id=uuid.uuid4().hex[:12], title=alert.summary, opened_at=now)
        incident.alerts[alert.key] = alert
        incident.note(now, "opened", alert.summary)
        for event in state.events:
            incident.note(event["at"], f"rollout:{event['kind']}", event["message"])
        doc = incident.as_dict()
        doc["rollout"] = state.as_dict()
        await self.incidents.save(doc)
        if self.publish is not None:
            self.publish("incident", {"event": "opened", "id": incident.id, "title": incident.title})


def _policy_json(manifest: Manifest, service: str) -> dict[str, Any] | None:
    spec = manifest.rollouts.get(service)
    return spec.model_dump(mode="json") if spec is not None else None


def _with_strategy(policy: RolloutPolicy, strategy: str) -> RolloutPolicy:
    from dataclasses import replace

    return replace(policy, strategy=strategy)  # type: ignore[arg-type]
