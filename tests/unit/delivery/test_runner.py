"""The runner carries a controller's decisions out: fleet, traffic, incidents — with doubles and a fake clock."""

from __future__ import annotations

from collections import deque

import pytest

from baton.control.manifest import ServiceSpec
from baton.delivery import (
    AnalysisPolicy,
    BlueGreenPolicy,
    CanaryPolicy,
    Member,
    MemoryFleet,
    MemoryRouter,
    Phase,
    RolloutHooks,
    RolloutPolicy,
    RolloutRunner,
    RolloutState,
    Stats,
    TrafficSplit,
    judge,
)

ANALYSIS = AnalysisPolicy(interval=10.0, min_requests=20, check_every=1.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedAnalyzer:
    """Answers analyses from a script of (canary, stable) figures; repeats the last one."""

    def __init__(self, clock: Clock, script: list[tuple[Stats, Stats]], preview_seen: float = 5) -> None:
        self.clock = clock
        self.script = deque(script)
        self.preview_seen = preview_seen
        self.closed = False

    async def scrape(self) -> float:
        return self.clock()

    async def analyse(self, *, over: float, now: float | None = None):
        figures = self.script.popleft() if len(self.script) > 1 else self.script[0]
        return judge(*figures, ANALYSIS, at=self.clock(), window=over)

    def new_version(self, *, over: float, now: float) -> Stats:
        return Stats(requests=self.preview_seen)

    async def aclose(self) -> None:
        self.closed = True


def make(strategy: str, script, *, preview_seen: float = 5, keep_warm: float = 5.0):
    clock = Clock()
    fleet = MemoryFleet({"web": [Member("web-1", "http://127.0.0.1:1", "1.0")]})
    router = MemoryRouter()
    failed: list[str] = []
    events: list[str] = []

    async def on_failed(state: RolloutState) -> None:
        failed.append(state.message)

    async def on_event(state: RolloutState, event) -> None:
        events.append(event["kind"])

    async def preview(headers):
        assert headers["x-baton-version"] == "canary"
        assert headers["x-baton-preview"] == "tok"
        return 5, 5, "5 requests answered"

    state = RolloutState(service="web", strategy=strategy, stable_version="1.0", new_version="1.1", started_at=0)
    runner = RolloutRunner(
        state,
        spec=ServiceSpec(module="x.y:z", version="1.1"),
        replicas=1,
        policy=RolloutPolicy(
            strategy=strategy,
            analysis=ANALYSIS,
            canary=CanaryPolicy(steps=(5, 25, 100)),
            blue_green=BlueGreenPolicy(keep_warm=keep_warm),
        ),
        fleet=fleet,
        router=router,
        analyzer=ScriptedAnalyzer(clock, script, preview_seen),
        preview=preview,
        token="tok",
        hooks=RolloutHooks(event=on_event, failed=on_failed),
        clock=clock,
        sleep=clock.sleep,
    )
    return runner, fleet, router, failed, events


GOOD = (Stats(100, 0, 0.01), Stats(1000, 0, 0.01))
BAD = (Stats(100, 30, 0.01), Stats(1000, 0, 0.01))


def weights(router: MemoryRouter) -> list[int | None]:
    return [split.weight if split else None for _, split in router.history]


async def test_healthy_canary_walks_every_step_and_is_adopted() -> None:
    runner, fleet, router, failed, events = make("canary", [GOOD])
    state = await runner.run()
    assert state.phase is Phase.HEALTHY
    assert weights(router) == [0, 5, 25, 100, None]  # pinned + preview, steps, overlay removed
    assert fleet.log == ["launch web 1.1 x1", "adopt web"]
    assert [m.version for m in fleet.members("web")[0]] == ["1.1"]
    assert failed == []
    assert events[0] == "started"
    assert events[-1] == "healthy"
    assert runner.analyzer.closed


async def test_bad_canary_is_rolled_back_with_an_incident() -> None:
    runner, fleet, router, failed, _ = make("canary", [GOOD, GOOD, BAD])
    state = await runner.run()
    assert state.phase is Phase.ROLLED_BACK
    assert weights(router) == [0, 5, 0, None]
    assert fleet.log == ["launch web 1.1 x1", "retire web"]
    assert len(failed) == 1
    assert "error rate" in failed[0]


async def test_preview_that_does_not_reach_the_new_version_stops_the_release() -> None:
    runner, fleet, router, _failed, _ = make("canary", [GOOD], preview_seen=0)
    state = await runner.run()
    assert state.phase is Phase.ROLLED_BACK
    assert "preview" in state.message
    assert weights(router)[-2:] == [0, None]
    assert fleet.log[-1] == "retire web"


async def test_blue_green_switches_then_retires_the_old_version_after_keep_warm() -> None:
    runner, fleet, router, _failed, _ = make("blue_green", [(Stats(100, 0, 0.01), Stats())], keep_warm=5.0)
    state = await runner.run()
    assert state.phase is Phase.HEALTHY
    assert weights(router) == [0, 0, 100, None]
    assert fleet.log == ["launch web 1.1 x1", "adopt web"]


async def test_operator_undo_during_keep_warm_switches_back() -> None:
    runner, fleet, router, _, _ = make("blue_green", [(Stats(100, 0, 0.01), Stats())], keep_warm=1e9)
    await runner._begin()  # launched, previewed, switched
    assert runner.state.phase is Phase.SWITCHED
    assert router.splits["web"].weight == 100
    state = await runner.undo()
    assert state.phase is Phase.ABORTED
    assert weights(router)[-2:] == [0, None]
    assert fleet.log[-1] == "retire web"


class WatchedFleet(MemoryFleet):
    """Records what the router had made live when each instance of the new version was started."""

    def __init__(self, router: MemoryRouter) -> None:
        super().__init__({"web": [Member("web-1", "http://127.0.0.1:1", "1.0")]})
        self.router = router
        self.routed_at_launch: TrafficSplit | None = None

    async def launch(self, service, spec, *, replicas):
        self.routed_at_launch = self.router.splits.get(service)
        return await super().launch(service, spec, replicas=replicas)


@pytest.mark.parametrize("strategy", ["canary", "blue_green"])
async def test_traffic_is_pinned_to_stable_before_the_new_version_starts(strategy) -> None:
    # The new instances join discovery under the service's name as soon as they are ready: launched before the pin,
    # they took half of the gateway's traffic (two replicas of each version) until it landed — a bad canary at its
    # 10% step was seen by ~15% of the requests over the rollout.
    runner, _, router, _, _ = make(strategy, [GOOD])
    fleet = runner.fleet = WatchedFleet(router)
    await runner.run()
    assert fleet.routed_at_launch == TrafficSplit(
        stable="1.0", canary="1.1", weight=0, preview={"x-baton-version": "canary", "x-baton-preview": "tok"}
    )
