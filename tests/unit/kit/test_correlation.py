"""The correlation id: accepted or created, echoed, bound for the handler, carried by errors."""

from __future__ import annotations

import re

from baton.kit import Service
from baton.telemetry.context import get_correlation_id


def _service() -> Service:
    service = Service("corr")

    @service.get("/v1/seen")
    async def seen() -> dict[str, str | None]:
        return {"correlation_id": get_correlation_id()}

    return service


async def test_an_incoming_id_is_bound_for_the_handler_and_echoed(serving):
    async with serving(_service()) as client:
        response = await client.get("/v1/seen", headers={"X-Correlation-ID": "order-42"})
    assert response.headers["X-Correlation-ID"] == "order-42"
    assert response.json() == {"correlation_id": "order-42"}


async def test_a_missing_id_is_created_and_echoed(serving):
    async with serving(_service()) as client:
        first = await client.get("/v1/seen")
        second = await client.get("/v1/seen")
    created = first.headers["X-Correlation-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", created)
    assert first.json() == {"correlation_id": created}
    assert second.headers["X-Correlation-ID"] != created


async def test_an_unusable_id_is_replaced_not_propagated(serving):
    async with serving(_service()) as client:
        response = await client.get("/v1/seen", headers={"X-Correlation-ID": "bad id\twith spaces" + "x" * 200})
    echoed = response.headers["X-Correlation-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)


async def test_error_bodies_carry_the_same_id(serving):
    async with serving(_service()) as client:
        response = await client.get("/v1/nowhere", headers={"X-Correlation-ID": "trace-me"})
    assert response.status_code == 404
    assert response.json()["correlation_id"] == "trace-me"
    assert response.headers["X-Correlation-ID"] == "trace-me"
