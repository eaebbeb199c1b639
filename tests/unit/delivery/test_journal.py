"""Rollouts survive a control-plane restart: the journal round-trips a rollout, and a runner built from it resumes
at the saved step (no new launch, the saved weight re-applied) and walks on to the end."""

from __future__ import annotations

import json
import stat

from baton.control.manifest import ServiceSpec
from baton.control.state import InstanceRecord, SupervisorState
from baton.delivery import (
    Analysis,
    AnalysisPolicy,
    BlueGreenPolicy,
    CanaryPolicy,
    Member,
    MemoryFleet,
    MemoryRouter,
    Phase,
    RolloutPolicy,
    RolloutRunner,
    Stats,
    judge,
)
from baton.delivery.journal import Journal, RolloutJournal, SavedRollout
from baton.delivery.runner import RolloutHooks
from baton.delivery.state import RolloutState

ANALYSIS = AnalysisPolicy(interval=10.0, min_requests=20, check_every=1.0)
GOOD = (Stats(100, 0, 0.01), Stats(1000, 0, 0.01))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedAnalyzer:
    """Always the same figures; the preview reaches the new version."""

    def __init__(self, clock: Clock, script: list[tuple[Stats, Stats]]) -> None:
        self.clock = clock
        self.figures = script[0]

    async def scrape(self) -> float:
        return self.clock()

    async def analyse(self, *, over: float, now: float | None = None) -> Analysis:
        return judge(*self.figures, ANALYSIS, at=self.clock(), window=over)

    def new_version(self, *, over: float, now: float) -> Stats:
        return Stats(requests=5)

    async def aclose(self) -> None:
        return None


def weights(router: MemoryRouter) -> list[int | None]:
    return [split.weight if split else None for _, split in router.history]


def canary_at_second_step(clock: Clock) -> RolloutState:
    state = RolloutState(service="web", strategy="canary", stable_version="1.0", new_version="1.1", started_at=5.0)
    state.steps = (5, 25, 100)
    state.step, state.weight, state.step_started_at = 1, 25, clock() - 3
    for kind in ("started", "launched", "verified", "step", "step"):
        state.note(clock() - 4, kind, kind)
    return state


def test_the_journal_round_trips_a_running_rollout_and_the_history(tmp_path) -> None:
    clock = Clock()
    state = canary_at_second_step(clock)
    state.record(judge(*GOOD, ANALYSIS, at=clock(), window=3.0))
    done = RolloutState(service="api", strategy="blue_green", stable_version="2", new_version="3", started_at=1.0)
    done.finish(2.0, Phase.HEALTHY, "switched")
    journal = RolloutJournal(tmp_path)
    spec = ServiceSpec(module="x.y:z", version="1.1").model_dump(mode="json")
    journal.save(
        Journal(
            active={"web": SavedRollout(state=state, spec=spec, previous=None, policy=None, token="tok")},
            history={"api": [done]},
        )
    )

    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600  # the tester token is in it
    loaded = RolloutJournal(tmp_path).load()
    again = loaded.active["web"].state
    assert again.as_dict() == state.as_dict()
    assert again.analyses[-1].verdict is state.analyses[-1].verdict
    assert loaded.active["web"].token == "tok"
    assert ServiceSpec.model_validate(loaded.active["web"].spec).version == "1.1"
    assert loaded.history["api"][0].phase is Phase.HEALTHY


def test_an_unreadable_journal_is_an_empty_one(tmp_path) -> None:
    (tmp_path / "rollouts.json").write_text("{not json")
    assert RolloutJournal(tmp_path).load().active == {}


def test_supervisor_state_keeps_tracks_and_the_specs_that_run() -> None:
    record = InstanceRecord(id="web-3", service="web", index=3, port=1, version="1.1", pid=1, create_time=1.0)
    state = SupervisorState(
        instances=[record],
        specs={"web": {"version": "1.0"}},
        tracks={"web": {"release": {"version": "1.1"}}},
    )
    again = SupervisorState.from_json(state.to_json())
    assert again.instances[0].track == "stable"
    assert again.specs == {"web": {"version": "1.0"}}
    assert again.tracks == {"web": {"release": {"version": "1.1"}}}
    legacy = SupervisorState.from_json({"instances": [{**state.to_json()["instances"][0], "track": "release"}]})
    assert legacy.instances[0].track == "release"


async def test_a_restored_canary_resumes_at_its_step_without_launching_again() -> None:
    clock = Clock()
    state = canary_at_second_step(clock)
    fleet = MemoryFleet({"web": [Member("web-1", "http://127.0.0.1:1", "1.0")]})
    fleet.new["web"] = [Member("web-2", "http://127.0.0.1:2", "1.1")]  # re-adopted on the release track
    router = MemoryRouter()
    saved: list[dict] = []
    runner = RolloutRunner(
        state,
        spec=ServiceSpec(module="x.y:z", version="1.1"),
        replicas=1,
        policy=RolloutPolicy(strategy="canary", analysis=ANALYSIS, canary=CanaryPolicy(steps=(5, 25, 100))),
        fleet=fleet,
        router=router,
        analyzer=ScriptedAnalyzer(clock, [GOOD]),
        preview=None,
        token="tok",
        hooks=RolloutHooks(changed=lambda s: saved.append(s.as_dict())),
        clock=clock,
        sleep=clock.sleep,
    )

    final = await runner.resume()

    assert final.phase is Phase.HEALTHY
    assert weights(router) == [25, 100, None]  # the saved weight first, then on from there
    assert router.history[0][1] is not None
    assert router.history[0][1].preview["x-baton-preview"] == "tok"
    assert fleet.log == ["adopt web"]  # no second launch
    kinds = [e["kind"] for e in final.events]
    assert kinds.count("resumed") == 1
    assert kinds.count("launched") == 1
    # The step's interval starts again at the resume (the old control plane's figures are gone).
    resumed = next(e for e in final.events if e["kind"] == "resumed")
    assert next(e for e in final.events if e["at"] > resumed["at"] and e["kind"] == "healthy")["at"] >= (
        resumed["at"] + ANALYSIS.interval
    )
    assert saved[0]["weight"] == 25
    assert saved[-1]["phase"] == "healthy"


async def test_a_restored_rollout_cut_short_before_its_preview_is_verified_again() -> None:
    clock = Clock()
    state = RolloutState(service="web", strategy="canary", stable_version="1.0", new_version="1.1", started_at=5.0)
    state.note(clock(), "started", "started")
    state.note(clock(), "launched", "launched")
    fleet = MemoryFleet({"web": [Member("web-1", "http://127.0.0.1:1", "1.0")]})
    fleet.new["web"] = [Member("web-2", "http://127.0.0.1:2", "1.1")]
    router = MemoryRouter()
    checked: list[dict[str, str]] = []

    async def preview(headers: dict[str, str]) -> tuple[int, int, str]:
        checked.append(headers)
        return 5, 5, "ok"

    runner = RolloutRunner(
        state,
        spec=ServiceSpec(module="x.y:z", version="1.1"),
        replicas=1,
        policy=RolloutPolicy(strategy="canary", analysis=ANALYSIS, canary=CanaryPolicy(steps=(5, 100))),
        fleet=fleet,
        router=router,
        analyzer=ScriptedAnalyzer(clock, [GOOD]),
        preview=preview,
        token="tok",
        clock=clock,
        sleep=clock.sleep,
    )
    final = await runner.resume()
    assert final.phase is Phase.HEALTHY
    assert len(checked) == 1
    assert weights(router) == [0, 5, 100, None]
    assert fleet.log == ["adopt web"]


class Rotation:
    """Where the supervisor publishes traffic splits in discovery (records them)."""

    def __init__(self) -> None:
        self.splits: list[tuple[str, dict[str, int] | None]] = []

    async def split(self, service: str, shares: dict[str, int] | None) -> None:
        self.splits.append((service, shares))


class Supervisor:
    """What the manager reads from the supervisor when it takes over saved rollouts."""

    def __init__(self, release: dict[str, list[str]]) -> None:
        self.release = release
        self.stopped: list[str] = []
        self.manifest = type("M", (), {"services": {"web": None, "api": None}})()
        self.rotation = Rotation()

    def track_slots(self, service: str, track: str) -> list[str]:
        return self.release.get(service, [])

    async def stop_track(self, service: str, track: str) -> None:
        self.stopped.append(service)


async def test_a_saved_rollout_whose_instances_died_ends_rolled_back_with_an_incident(tmp_path) -> None:
    import asyncio

    from baton.delivery.manager import RolloutManager
    from baton.gateway.overlay import Overlay, ServiceOverlay
    from baton.telemetry.incident_store import MemoryIncidentStore

    clock = Clock()
    lost = canary_at_second_step(clock)
    spec = ServiceSpec(module="x.y:z", version="1.1").model_dump(mode="json")
    RolloutJournal(tmp_path).save(
        Journal(active={"web": SavedRollout(state=lost, spec=spec, previous=None, policy=None, token="tok")})
    )
    overlay = tmp_path / "gateway" / "overlay.json"
    overlay.parent.mkdir()
    overlay.write_text(json.dumps(Overlay(generation=3, services={"web": ServiceOverlay("1.0", "1.1", 25)}).as_json()))
    # web's new instances are gone; api runs a release track no saved rollout explains.
    supervisor = Supervisor({"api": ["api-3"]})
    incidents = MemoryIncidentStore()
    manager = RolloutManager(
        supervisor,  # type: ignore[arg-type]
        home=tmp_path,
        manifest=lambda: None,  # type: ignore[arg-type,return-value]
        incidents=incidents,
    )

    assert manager.resume() == []
    await asyncio.gather(*manager._tasks.values())

    [status] = manager.status("web")
    assert status["phase"] == "rolled_back"
    assert "did not survive" in status["message"]
    assert len(await incidents.list(state="open")) == 1
    assert supervisor.stopped == ["api"]
    assert not overlay.exists()  # no rollout carries on: the gateway serves what runs
    assert supervisor.rotation.splits == [("web", None)]  # and callers inside drop the split the dead plane left
    assert RolloutJournal(tmp_path).load().active == {}
    assert RolloutJournal(tmp_path).load().history["web"][-1].phase is Phase.ROLLED_BACK


async def test_a_restored_blue_green_keeps_counting_keep_warm_from_the_switch() -> None:
    clock = Clock()
    state = RolloutState(service="web", strategy="blue_green", stable_version="1.0", new_version="1.1", started_at=5.0)
    state.steps, state.phase, state.weight, state.step = (0, 100), Phase.SWITCHED, 100, 1
    state.step_started_at = clock() - 8.0  # switched 8 s before the restart; keep_warm is 10 s
    for kind in ("started", "launched", "preview", "verified", "switched"):
        state.note(clock() - 9, kind, kind)
    fleet = MemoryFleet({"web": [Member("web-1", "http://127.0.0.1:1", "1.0")]})
    fleet.new["web"] = [Member("web-2", "http://127.0.0.1:2", "1.1")]
    router = MemoryRouter()
    runner = RolloutRunner(
        state,
        spec=ServiceSpec(module="x.y:z", version="1.1"),
        replicas=1,
        policy=RolloutPolicy(strategy="blue_green", analysis=ANALYSIS, blue_green=BlueGreenPolicy(keep_warm=10.0)),
        fleet=fleet,
        router=router,
        analyzer=ScriptedAnalyzer(clock, [GOOD]),
        preview=None,
        token="tok",
        clock=clock,
        sleep=clock.sleep,
    )
    resumed_at = clock()
    final = await runner.resume()
    assert final.phase is Phase.HEALTHY
    assert weights(router) == [100, None]  # all traffic stays on the new version, then the overlay goes
    assert fleet.log == ["adopt web"]
    assert final.finished_at is not None
    assert final.finished_at - resumed_at <= 3.0  # the 2 s left of keep_warm (plus one look), not 10 s more
