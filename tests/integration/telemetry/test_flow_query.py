"""A choreographed flow gathered over real NATS: the producer's outbox and each consumer's inbox answer one query,
and the replicas sharing a database do not double the timeline."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from baton.events import CloudEvent, enqueue
from baton.events.flows import FlowResponder, gather_flow
from baton.events.tables import inbox
from baton.events.tables import metadata as events_metadata

pytestmark = pytest.mark.integration

CONFIRMED = "shop.order.order.confirmed.v1"


async def _database(path: Path):  # type: ignore[no-untyped-def]
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(events_metadata.create_all)
    return engine, async_sessionmaker(engine, expire_on_commit=False)


async def test_gather_flow_merges_the_producer_and_the_consumers(nats_url: str, tmp_path: Path) -> None:
    engines = []
    databases = {}
    for service in ("order", "notification", "analytics"):
        engine, sessions = await _database(tmp_path / f"{service}.db")
        engines.append(engine)
        databases[service] = sessions
    async with databases["order"]() as session, session.begin():
        await enqueue(session, CloudEvent(id="e1", source="/shop/order", type=CONFIRMED, correlationid="flow-9"))
        await enqueue(session, CloudEvent(id="e2", source="/shop/order", type=CONFIRMED, correlationid="other"))
    for service, at in (("notification", 5.0), ("analytics", 4.0)):
        async with databases[service]() as session, session.begin():
            await session.execute(insert(inbox).values(consumer=service, event_id="e1", processed_at=at))

    clients = [await nats.connect(nats_url) for _ in range(5)]
    responders = [
        FlowResponder(clients[0], databases["order"], service="order", instance="order-1"),
        FlowResponder(clients[1], databases["order"], service="order", instance="order-2"),  # same database
        FlowResponder(clients[2], databases["notification"], service="notification", instance="notification-1"),
        FlowResponder(clients[3], databases["analytics"], service="analytics", instance="analytics-1"),
    ]
    try:
        for responder in responders:
            await responder.start()
        for client in clients:
            await client.flush()
        flow = await gather_flow(clients[4], "flow-9", timeout=0.5)
    finally:
        for responder in responders:
            await responder.stop()
        for client in clients:
            await client.close()
        for engine in engines:
            await engine.dispose()

    assert [(e["id"], e["service"]) for e in flow["produced"]] == [("e1", "order")]
    assert [(h["service"], h["consumer"], h["type"]) for h in flow["handled"]] == [
        ("analytics", "analytics", CONFIRMED),
        ("notification", "notification", CONFIRMED),
    ]
    assert flow["answered"] == ["analytics-1", "notification-1", "order-1", "order-2"]
