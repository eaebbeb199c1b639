"""The control plane's flow timeline: a checkout saga's log and the choreography around it (events produced,
published, handled by other services), merged in time order under one correlation id."""

from __future__ import annotations

from typing import Any

import pytest

from baton.control import sagas as sagas_module
from baton.control.sagas import SagaAggregator


class _Manifest:
    sagas: dict[str, Any] = {}


@pytest.fixture
def aggregator(monkeypatch: pytest.MonkeyPatch) -> SagaAggregator:
    aggregator = SagaAggregator(_Manifest(), lambda: [], session=lambda: None)  # type: ignore[arg-type]

    async def listed(**params: Any) -> dict[str, Any]:
        assert params["correlation_id"] == "flow-1"
        return {"items": [{"id": "o-1", "name": "checkout", "service": "order"}], "sources": {"order": "ok"}}

    async def shown(saga_id: str) -> dict[str, Any]:
        return {
            "service": "order",
            "saga": {"id": saga_id},
            "entries": [
                {"seq": 1, "kind": "saga_started", "at": "2026-11-27T01:00:00+00:00"},
                {"seq": 2, "kind": "step_started", "step": "confirm_order", "attempt": 1, "at": "2026-11-27T01:00:01"},
                {"seq": 3, "kind": "saga_completed", "at": "2026-11-27T01:00:03+00:00"},
            ],
        }

    monkeypatch.setattr(aggregator, "list", listed)
    monkeypatch.setattr(aggregator, "show", shown)
    return aggregator


async def test_the_saga_and_the_choreography_make_one_timeline(aggregator, monkeypatch) -> None:
    start = 1_795_741_200.0  # 2026-11-27T01:00:00Z

    async def gathered(nats: Any, correlation_id: str, *, timeout: float) -> dict[str, Any]:
        assert nats == "nc"
        return {
            "produced": [
                {
                    "id": "e1",
                    "type": "shop.order.order.confirmed.v1",
                    "subject": "shop.order.order.confirmed",
                    "service": "order",
                    "created_at": start + 2.0,
                    "sent_at": start + 2.5,
                },
            ],
            "handled": [
                {
                    "consumer": "analytics",
                    "event_id": "e1",
                    "processed_at": start + 2.75,
                    "service": "analytics",
                    "type": "shop.order.order.confirmed.v1",
                },
                {
                    "consumer": "notification",
                    "event_id": "e1",
                    "processed_at": start + 4.0,
                    "service": "notification",
                    "type": "shop.order.order.confirmed.v1",
                },
            ],
            "answered": ["analytics-1", "notification-1", "order-1"],
        }

    monkeypatch.setattr(sagas_module, "gather_flow", gathered)
    flow = await aggregator.flow("flow-1", nats="nc")

    assert [(i["kind"], i["service"], i["name"]) for i in flow["items"]] == [
        ("saga", "order", "checkout: saga_started"),
        ("saga", "order", "checkout: step_started"),
        ("produced", "order", "shop.order.order.confirmed.v1"),
        ("published", "order", "shop.order.order.confirmed.v1"),
        ("handled", "analytics", "shop.order.order.confirmed.v1"),
        ("saga", "order", "checkout: saga_completed"),
        ("handled", "notification", "shop.order.order.confirmed.v1"),
    ]
    assert flow["items"][1]["detail"] == "confirm_order attempt 1"
    assert flow["items"][1]["at"] == "2026-11-27T01:00:01.000Z"  # a naive time is UTC
    assert flow["services"] == ["order", "analytics", "notification"]
    assert flow["sources"]["events"] == "3 instances answered"


async def test_without_nats_the_saga_part_still_answers(aggregator) -> None:
    flow = await aggregator.flow("flow-1", nats=None)
    assert {i["kind"] for i in flow["items"]} == {"saga"}
    assert flow["sources"] == {"order": "ok", "events": "no NATS connection"}


def test_flow_lanes_place_each_point_on_its_services_lane() -> None:
    from baton.control.dashboard.timeline import flow_lanes

    flow = {
        "items": [
            {"t": 10.0, "service": "order", "kind": "saga", "name": "checkout: saga_started", "detail": ""},
            {"t": 11.0, "service": "order", "kind": "produced", "name": "confirmed", "detail": ""},
            {"t": 12.0, "service": "notification", "kind": "handled", "name": "confirmed", "detail": "consumer n"},
        ]
    }
    lanes, rows = flow_lanes(flow)
    assert [lane["service"] for lane in lanes] == ["order", "notification"]
    assert [m["left"] for m in lanes[0]["marks"]] == [0.0, 50.0]
    assert lanes[0]["kinds"] == {"saga": 1, "produced": 1}
    assert lanes[1]["marks"][0]["left"] == 99.5  # the last point stays inside the track
    assert [r["offset_ms"] for r in rows] == [0.0, 1000.0, 2000.0]
    assert flow_lanes({"items": []}) == ([], [])
