"""Carrying a rollout out: launch the new version, verify it through the preview route, then let the controller
step the traffic while the analyzer watches, and apply what it decides.

::

    pin traffic to stable + open the preview route (TrafficRouter) ─▶ launch (Fleet)
                   ─▶ preview check: requests with the tester headers must reach the new version, none 5xx
                   ─▶ controller.start ─▶ loop every check_every: analyse ▸ controller.observe ▸ apply actions
    SetWeight ─▶ router.route          Complete ─▶ fleet.adopt, overlay removed
    Rollback  ─▶ fleet.retire, overlay removed, incident (when analysis failed)

Traffic is pinned *before* the launch: the new instances join discovery as soon as they are ready, under the
service's name, and a route or caller not yet told to keep them at 0 % would balance over them by instance count
(half the traffic with two replicas of each version) until the pin lands.

Operator commands (``promote``, ``abort``, ``undo``) take the same lock as the loop, so a command and an analysis
never act on the controller at the same time. The runner is one task; the manager owns it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from baton.delivery.analysis import Analysis, Stats
from baton.delivery.bluegreen import BlueGreenController
from baton.delivery.canary import CanaryController
from baton.delivery.fleet import Fleet
from baton.delivery.policy import RolloutPolicy
from baton.delivery.state import Action, Complete, Phase, Rollback, RolloutState, SetWeight
from baton.delivery.traffic import TrafficRouter, TrafficSplit, preview_headers

if TYPE_CHECKING:
    from baton.control.manifest import ServiceSpec

__all__ = ["Analyzer", "PreviewCheck", "RolloutHooks", "RolloutRunner"]

log = logging.getLogger("baton.delivery.runner")

PreviewCheck = Callable[[dict[str, str]], Awaitable[tuple[int, int, str]]]
"""Sends requests with the given headers through the edge; returns ``(answered, answered below 500, detail)``."""


class Analyzer(Protocol):
    """What the runner needs from the metrics side (:class:`~baton.delivery.observation.LiveAnalyzer`)."""

    async def scrape(self) -> float:
        """Refresh the figures; the time they were taken."""
        ...

    async def analyse(self, *, over: float, now: float | None = None) -> Analysis:
        """Compare the new version with the stable one over the last ``over`` seconds."""
        ...

    def new_version(self, *, over: float, now: float) -> Stats:
        """The new version's figures over the last ``over`` seconds."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


async def _nothing(state: RolloutState, event: dict[str, Any]) -> None:
    return None


async def _no_incident(state: RolloutState) -> None:
    return None


def _unsaved(state: RolloutState) -> None:
    return None


@dataclass(frozen=True)
class RolloutHooks:
    """Where a rollout reports: every timeline event (webhooks, the dashboard) and failures (incidents)."""

    event: Callable[[RolloutState, dict[str, Any]], Awaitable[None]] = _nothing
    failed: Callable[[RolloutState], Awaitable[None]] = _no_incident
    changed: Callable[[RolloutState], None] = _unsaved
    """After every change of the state (persistence: :mod:`~baton.delivery.journal`)."""


class RolloutRunner:
    """One rollout of one service, from launch to a terminal phase."""

    def __init__(
        self,
        state: RolloutState,
        *,
        spec: ServiceSpec,
        replicas: int,
        policy: RolloutPolicy,
        fleet: Fleet,
        router: TrafficRouter,
        analyzer: Analyzer,
        preview: PreviewCheck | None,
        token: str,
        hooks: RolloutHooks | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.state = state
        self.spec = spec
        self.replicas = replicas
        self.policy = policy
        self.fleet = fleet
        self.router = router
        self.analyzer = analyzer
        self.preview = preview
        self.token = token
        self.hooks = hooks or RolloutHooks()
        self.clock = clock
        self.sleep = sleep
        self.controller: CanaryController | BlueGreenController
        if policy.strategy == "blue_green":
            self.controller = BlueGreenController(state, policy.blue_green, policy.analysis)
        else:
            self.controller = CanaryController(state, policy.canary, policy.analysis)
        self._lock = asyncio.Lock()
        self._emitted = 0
        self._launched = False

    @property
    def service(self) -> str:
        """The service being released."""
        return self.state.service

    async def run(self) -> RolloutState:
        """Run the rollout to its end; never raises for a failed release (the state says what happened)."""
        return await self._drive(self._begin)

    async def resume(self) -> RolloutState:
        """Carry on a rollout an earlier control plane started and saved; its new version's instances still run
        (the supervisor re-adopted them). Ends like :meth:`run`."""
        return await self._drive(self._resume)

    async def _drive(self, first: Callable[[], Awaitable[None]]) -> RolloutState:
        try:
            async with self._lock:
                await first()
            while not self.state.done:
                await self.sleep(self.policy.analysis.check_every)
                async with self._lock:
                    if self.state.done:
                        break
                    await self._look()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("rollout of %s failed", self.service)
            async with self._lock:
                await self._fail(f"rollout failed: {exc}")
        finally:
            await self.analyzer.aclose()
        return self.state

    async def promote(self, *, full: bool = False) -> RolloutState:
        """Skip the current step's remaining analysis (``full``: go to 100 %); blue-green: switch or finish."""
        async with self._lock:
            await self._apply(self.controller.promote(self.clock(), full=full))
        return self.state

    async def abort(self) -> RolloutState:
        """All traffic back to the stable version; the new one stopped."""
        async with self._lock:
            await self._apply(self.controller.abort(self.clock()))
        return self.state

    async def undo(self) -> RolloutState:
        """Blue-green: switch back to the still-warm previous version; canary: same as :meth:`abort`."""
        async with self._lock:
            if isinstance(self.controller, BlueGreenController):
                await self._apply(self.controller.undo(self.clock()))
            else:
                await self._apply(self.controller.abort(self.clock()))
        return self.state

    # steps ----------------------------------------------------------------------------------------------

    async def _begin(self) -> None:
        state = self.state
        state.note(
            self.clock(),
            "started",
            f"releasing {state.new_version} ({self.policy.strategy}) beside {state.stable_version}",
        )
        await self._emit()
        # Pinned first (see the module docstring): the new version must never be served by instance count.
        await self.router.route(self.service, self._split(0))
        members = await self.fleet.launch(self.service, self.spec, replicas=self.replicas)
        self._launched = True
        state.note(
            self.clock(),
            "launched",
            f"{len(members)} instance(s) of {state.new_version} ready: " + ", ".join(m.id for m in members),
        )
        self._persist()
        await self._verify_and_start()

    async def _resume(self) -> None:
        state = self.state
        self._launched = True
        self._emitted = len(state.events)
        now = self.clock()
        state.note(now, "resumed", f"control plane restarted; resuming the rollout at {state.weight}% ({state.phase})")
        if state.phase is Phase.PROGRESSING and not any(e["kind"] == "verified" for e in state.events):
            # Cut short before the preview check ended: check again, then start as a fresh rollout would.
            await self.router.route(self.service, self._split(0))
            await self._verify_and_start()
            return
        if isinstance(self.controller, BlueGreenController):
            if state.phase is Phase.SWITCHED:
                self.controller.switched_at = state.step_started_at  # keep_warm still counts from the switch
        else:
            # The scraped figures died with the old control plane: the step's analysis interval starts again.
            state.step_started_at = now
        await self.router.route(self.service, self._split(state.weight))
        await self._emit()

    async def _verify_and_start(self) -> None:
        state = self.state
        ok, detail = await self._verify_preview()
        now = self.clock()
        if isinstance(self.controller, BlueGreenController):
            actions = self.controller.start(now)
            actions += self.controller.preview_verified(now, ok, detail)
        elif ok:
            state.note(now, "verified", f"preview verified: {detail}")
            actions = self.controller.start(now)
        else:
            state.weight = 0
            state.finish(now, Phase.ROLLED_BACK, f"preview verification failed: {detail}")
            actions = [SetWeight(0), Rollback(f"preview verification failed: {detail}")]
        await self._apply(actions)

    async def _verify_preview(self) -> tuple[bool, str]:
        if self.preview is None:
            return True, "no gateway route to preview; instances ready"
        before = await self.analyzer.scrape()
        answered, healthy, detail = await self.preview(preview_headers(self.token))
        after = await self.analyzer.scrape()
        if answered == 0:
            return False, detail
        seen = self.analyzer.new_version(over=max(after - before, 1e-3), now=after).requests
        if seen < answered:
            return False, f"only {seen:g} of {answered} preview requests reached {self.state.new_version}"
        # Blue-green switches everything at once, so the preview must be clean (Argo's prePromotionAnalysis);
        # a canary only needs to be reachable: its quality is what the analysis at 5% is for.
        if self.policy.strategy == "blue_green" and healthy < answered:
            return False, detail
        return True, f"{answered} requests through the preview route reached {self.state.new_version} ({detail})"

    async def _look(self) -> None:
        controller = self.controller
        now = self.clock()
        if isinstance(controller, BlueGreenController):
            if self.state.phase is not Phase.SWITCHED:
                return
            over = max(controller.window(now), self.policy.analysis.check_every)
        else:
            over = max(controller.window(now), self.policy.analysis.check_every)
        analysis = await self.analyzer.analyse(over=over)
        await self._apply(controller.observe(analysis))

    async def _apply(self, actions: list[Action]) -> None:
        if actions and not self.state.done:
            # Write-ahead: a control plane that dies while routing resumes at the decided weight and applies it.
            # A terminal phase is saved only after its effects (below, by _emit): dying before the new version
            # is adopted or stopped must resume the rollout, not believe it over.
            self._persist()
        for action in actions:
            if isinstance(action, SetWeight):
                await self.router.route(self.service, self._split(action.weight))
            elif isinstance(action, Complete):
                await self.fleet.adopt(self.service)
                await self.router.route(self.service, None)
            elif isinstance(action, Rollback):
                # Traffic already left the new version (the SetWeight(0) before this): open the incident first,
                # then drain and stop the instances, which takes a drain delay.
                if action.failed:
                    await self.hooks.failed(self.state)
                await self._retire()
        await self._emit()

    async def _retire(self) -> None:
        if self._launched:
            await self.fleet.retire(self.service)
            self._launched = False
        await self.router.route(self.service, None)

    async def _fail(self, reason: str) -> None:
        state = self.state
        if state.done:
            return
        state.weight = 0
        state.finish(self.clock(), Phase.ROLLED_BACK, reason)
        try:
            await self.router.route(self.service, self._split(0))
            await self._retire()
        except Exception:
            log.exception("cleanup after the failed rollout of %s", self.service)
        await self.hooks.failed(state)
        await self._emit()

    def _split(self, weight: int) -> TrafficSplit:
        state = self.state
        open_preview = not state.done
        return TrafficSplit(
            stable=state.stable_version,
            canary=state.new_version,
            weight=weight,
            preview=preview_headers(self.token) if open_preview else {},
        )

    def _persist(self) -> None:
        try:
            self.hooks.changed(self.state)
        except Exception:  # a full disk must not stop a rollout; the next change tries again
            log.exception("saving the rollout of %s failed", self.service)

    async def _emit(self) -> None:
        self._persist()
        events = self.state.events[self._emitted :]
        self._emitted = len(self.state.events)
        for event in events:
            try:
                await self.hooks.event(self.state, event)
            except Exception:  # a broken webhook or dashboard hub must never stop a rollout
                log.exception("rollout event hook failed")
