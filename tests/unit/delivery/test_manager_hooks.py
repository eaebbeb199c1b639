"""The manager's hooks: rollout events reach webhooks (Flagger-style) and a failed release opens an incident."""

from __future__ import annotations

from aiohttp import web

from baton.delivery.manager import RolloutManager
from baton.delivery.state import Phase, RolloutState
from baton.events.server import free_port
from baton.telemetry.incident_store import MemoryIncidentStore


class NoSupervisor:
    """The manager only needs a supervisor to release; hooks do not touch it."""


async def test_events_reach_webhooks_and_failures_open_incidents(tmp_path) -> None:
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    published: list[tuple[str, dict]] = []
    incidents = MemoryIncidentStore()
    manager = RolloutManager(
        NoSupervisor(),  # type: ignore[arg-type]
        home=tmp_path,
        manifest=lambda: None,  # type: ignore[arg-type,return-value]
        incidents=incidents,
        publish=lambda event, data: published.append((event, data)),
    )
    state = RolloutState(service="web", strategy="canary", stable_version="1.0", new_version="1.1", started_at=1.0)
    try:
        event = state.note(2.0, "step", "step 1/5: 5% to 1.1")
        await manager._event([f"http://127.0.0.1:{port}/hook"])(state, event)
        state.finish(3.0, Phase.ROLLED_BACK, "analysis failed at 5%: error rate 30.0% > 1.0%")
        await manager._incident(state)
    finally:
        await runner.cleanup()

    assert received[0]["event"] == "step"
    assert received[0]["rollout"]["new_version"] == "1.1"
    assert published[0][0] == "rollout"
    opened = await incidents.list(state="open")
    assert len(opened) == 1
    assert "web@1.1 rolled back" in opened[0]["title"]
    assert opened[0]["rollout"]["phase"] == "rolled_back"
    assert [e["kind"] for e in opened[0]["timeline"]][-2:] == ["rollout:step", "rollout:rolled_back"]
    assert ("incident", {"event": "opened", "id": opened[0]["id"], "title": opened[0]["title"]}) in published
