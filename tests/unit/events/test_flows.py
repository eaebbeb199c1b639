"""Flow queries answered from the outbox (events under a correlation id) and the inbox (who handled them)."""

from __future__ import annotations

from sqlalchemy import insert

from baton.events import CloudEvent, enqueue
from baton.events.flows import FlowResponder, handled_events, produced_events
from baton.events.tables import inbox

TYPE = "shop.order.order.confirmed.v1"


def event(i: int, correlation: str | None, **data: object) -> CloudEvent:
    return CloudEvent(id=f"e{i}", source="/shop/order", type=TYPE, data=data, correlationid=correlation)


async def test_produced_events_are_the_outbox_rows_of_the_correlation_id(sessions) -> None:
    async with sessions() as session, session.begin():
        await enqueue(session, event(1, "flow-1", order_id="o-1"))
        await enqueue(session, event(2, "flow-2"))
        # The id appears in the data only: not an event of the flow.
        await enqueue(session, event(3, "flow-3", note='"correlationid":"flow-1"'))
        await enqueue(session, event(4, "flow_1"))  # LIKE's "_" must not match "-"
        await enqueue(session, event(5, "flow-1"))
    found = await produced_events(sessions, "flow-1")
    assert [e["id"] for e in found] == ["e1", "e5"]
    assert found[0]["type"] == TYPE
    assert found[0]["subject"] == "shop.order.order.confirmed"
    assert found[0]["source"] == "/shop/order"
    assert found[0]["sent_at"] is None
    assert [e["id"] for e in await produced_events(sessions, "flow_1")] == ["e4"]
    assert await produced_events(sessions, "flow-%") == []


async def test_handled_events_and_the_responders_answer(sessions) -> None:
    async with sessions() as session, session.begin():
        await enqueue(session, event(1, "flow-1"))
        await session.execute(
            insert(inbox),
            [
                {"consumer": "notification", "event_id": "e1", "processed_at": 2.0},
                {"consumer": "analytics", "event_id": "e1", "processed_at": 1.0},
                {"consumer": "analytics", "event_id": "other", "processed_at": 3.0},
            ],
        )
    rows = await handled_events(sessions, ["e1"])
    assert [(r["consumer"], r["processed_at"]) for r in rows] == [("analytics", 1.0), ("notification", 2.0)]
    assert await handled_events(sessions, []) == []

    responder = FlowResponder(None, sessions, service="order", instance="order-1")  # type: ignore[arg-type]
    answer = await responder.answer({"correlation_id": "flow-1", "event_ids": ["e1"]})
    assert answer["service"] == "order"
    assert answer["instance"] == "order-1"
    assert [e["id"] for e in answer["produced"]] == ["e1"]
    assert len(answer["handled"]) == 2
