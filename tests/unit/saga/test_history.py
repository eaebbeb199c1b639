"""Reading a saga's history: the HTTP routes and the terminal timeline ``baton saga show`` prints."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from rich.console import Console

from baton.errors import SagaError
from baton.kit.component import Component, InstanceContext
from baton.kit.db import create_engine
from baton.kit.problems import install_problem_handlers
from baton.kit.settings import InstanceSettings
from baton.saga import Orchestrator, SagaComponent
from baton.saga.api import saga_router
from baton.saga.render import render_flow, render_timeline
from baton.saga.replay import load_history

from .helpers import FAST_POLICY, four_steps


async def _run_two(store, recorder):
    async with Orchestrator(store, [four_steps(recorder)], policy=FAST_POLICY) as orch:
        await orch.execute("checkout", {"order_id": "o-1"}, saga_id="ok", correlation_id="c-1")
        recorder.plan("capture", "action", "no")
        await orch.execute("checkout", {"order_id": "o-2"}, saga_id="ko", correlation_id="c-2")
    return orch


async def test_routes_list_and_show_sagas(store, recorder) -> None:
    orch = await _run_two(store, recorder)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(saga_router(orch))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        listed = (await client.get("/v1/sagas")).json()["items"]
        compensated = (await client.get("/v1/sagas", params={"status": "compensated"})).json()["items"]
        shown = await client.get("/v1/sagas/ko")
        missing = await client.get("/v1/sagas/nope")
        bad = await client.get("/v1/sagas", params={"limit": 1000})

    assert [s["id"] for s in listed] == ["ko", "ok"]
    assert [(s["id"], s["status"]) for s in compensated] == [("ko", "compensated")]
    body = shown.json()
    assert body["saga"]["status"] == "compensated"
    assert [e["kind"] for e in body["entries"]][:3] == ["saga_started", "step_started", "step_succeeded"]
    assert load_history(body).saga.id == "ko"  # what the CLI gets back is loadable for rendering and replay
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert bad.status_code == 422


async def test_component_hosts_the_orchestrator_and_the_routes_follow_it(tmp_path, recorder) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'order.db'}")  # empty: the component migrates it
    component = SagaComponent([four_steps(recorder)], policy=FAST_POLICY)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(saga_router(component))  # mounted before the component (and its store) exists
    ctx = InstanceContext(service="order", instance="order-1", settings=InstanceSettings(), engine=engine)
    with pytest.raises(SagaError):
        await component.check()

    await component.start(ctx)
    assert ctx.extras["saga"] is component.orchestrator
    assert component.orchestrator.owner == "order-1"
    await component.check()
    await component.orchestrator.execute("checkout", {}, saga_id="via-component")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        shown = (await client.get("/v1/sagas/via-component")).json()
    assert shown["saga"]["status"] == "completed"

    await component.drain()
    with pytest.raises(SagaError, match="not accepting"):
        await component.check()
    with pytest.raises(SagaError, match="not accepting"):
        await component.orchestrator.start("checkout", {})
    await component.stop()
    await component.stop()  # idempotent
    await engine.dispose()
    assert isinstance(component, Component)


async def test_render_timeline_shows_every_entry(store, recorder) -> None:
    orch = await _run_two(store, recorder)
    history = await orch.history("ko")
    console = Console(width=160, record=True, color_system=None)
    console.print(render_timeline(history))
    text = console.export_text()
    assert "saga ko" in text
    assert "compensated" in text
    assert "correlation c-2" in text
    for entry in history.entries:
        assert entry.kind.value in text
    assert "capture said no" in text
    assert "ko:authorize:compensation" in text


def test_render_flow_lists_events() -> None:
    from datetime import UTC, datetime

    from baton.saga import FlowEvent

    at = datetime(2025, 1, 1, tzinfo=UTC)
    console = Console(width=160, record=True, color_system=None)
    console.print(render_flow("c-1", [FlowEvent("c-1", at, "shop.order.placed.v1", "/shop/order", "e1", {"a": 1})]))
    text = console.export_text()
    assert "flow c-1" in text
    assert "shop.order.placed.v1" in text
    assert "a=1" in text
