"""The choreography tracker: events recorded by correlation id, once each, read back as one timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from baton.saga import Orchestrator, Saga, Step, flow_timeline, record_event
from baton.saga.choreography import summarize

from .helpers import FAST_POLICY

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Event:
    """Shaped like ``baton.events.CloudEvent`` (the tracker only reads these attributes)."""

    id: str
    type: str
    source: str
    time: str
    correlationid: str | None
    data: object = None


def event(n: int, kind: str, correlation: str | None = "flow-1", **data) -> Event:
    at = (T0 + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")
    return Event(f"e-{n}", f"shop.order.{kind}.v1", "/shop/order", at, correlation, data)


async def test_events_read_back_in_time_order_and_are_recorded_once(engine) -> None:
    sessions = async_sessionmaker(engine)
    async with sessions() as session, session.begin():
        assert await record_event(event(2, "paid", order_id="o-1"), session)
        assert await record_event(event(1, "placed", order_id="o-1", lines=[1, 2]), session)
        assert await record_event(event(3, "other", correlation="flow-2"), session)
    async with sessions() as session, session.begin():
        assert not await record_event(event(2, "paid", order_id="o-1"), session)  # a redelivery
        assert not await record_event(event(4, "untracked", correlation=None), session)

    async with sessions() as session:
        timeline = await flow_timeline(session, "flow-1")
    assert [(e.id, e.type) for e in timeline] == [("e-1", "shop.order.placed.v1"), ("e-2", "shop.order.paid.v1")]
    assert timeline[0].summary == {"order_id": "o-1", "lines": "[2 items]"}
    assert timeline[0].at == T0 + timedelta(seconds=1)


async def test_a_saga_with_the_same_correlation_id_joins_the_timeline(engine, store) -> None:
    async def act(ctx):
        return None

    saga = Saga("checkout", steps=[Step("reserve", action=act)])
    async with Orchestrator(store, [saga], policy=FAST_POLICY) as orch:
        await orch.execute("checkout", {}, saga_id="s-9", correlation_id="flow-1")
    sessions = async_sessionmaker(engine)
    async with sessions() as session, session.begin():
        await record_event(
            Event("e-late", "shop.order.confirmed.v1", "/shop/order", datetime.now(UTC).isoformat(), "flow-1"),
            session,
        )
    async with sessions() as session:
        timeline = await flow_timeline(session, "flow-1")
    assert [e.type for e in timeline] == [
        "saga.checkout.saga_started",
        "saga.checkout.step_started",
        "saga.checkout.step_succeeded",
        "saga.checkout.saga_completed",
        "shop.order.confirmed.v1",
    ]
    assert timeline[1].summary == {"step": "reserve"}
    assert timeline[1].source == "saga/s-9"


def test_summaries_stay_short() -> None:
    summary = summarize({f"k{i}": "x" * 500 for i in range(20)})
    assert len(summary) == 8
    assert all(len(value) == 80 for value in summary.values())
    assert summarize({"nested": {"a": 1}}) == {"nested": "{1 fields}"}
    assert summarize(None) == {}


async def test_real_cloud_events_are_tracked_under_the_current_correlation_id(engine) -> None:
    from baton.events.envelope import CloudEvent
    from baton.telemetry.context import bind_correlation_id

    with bind_correlation_id("flow-real"):
        placed = CloudEvent.create(type="shop.order.order.placed.v1", source="/shop/order", data={"id": "o-1"})
    sessions = async_sessionmaker(engine)
    async with sessions() as session, session.begin():
        assert await record_event(placed, session)
        assert not await record_event(placed, session)
    async with sessions() as session:
        (tracked,) = await flow_timeline(session, "flow-real")
    assert (tracked.id, tracked.type, tracked.summary) == (placed.id, "shop.order.order.placed.v1", {"id": "o-1"})
    assert tracked.at.isoformat().replace("+00:00", "Z") == placed.time
