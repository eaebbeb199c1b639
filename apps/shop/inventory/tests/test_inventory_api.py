"""The inventory through its HTTP API, in-process on a real SQLite database: stock, the reservation life cycle
(idempotent at every step), TTL expiry on a manual clock, and concurrent reservations that never oversell."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from apps.shop.catalog.seed import PRODUCT_IDS
from apps.shop.common.testusers import STAFF, USERS
from apps.shop.inventory import service as inventory
from apps.shop.inventory.events import RESERVATION_EXPIRED

from baton.testing import wait_until

STAFF_HEADERS = USERS.headers("staff-1", roles=STAFF)


def reservation(rid: str, *lines: tuple[str, int], ttl: float = 60, order: str = "o-1") -> dict:
    return {
        "reservation_id": rid,
        "order_id": order,
        "lines": [{"product_id": p, "quantity": q} for p, q in lines],
        "ttl_seconds": ttl,
    }


async def stock_of(client: httpx.AsyncClient, product_id: str) -> dict:
    response = await client.get(f"/v1/stock/{product_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_seed_stocks_every_demo_product(client):
    stocks = [await stock_of(client, p) for p in PRODUCT_IDS]
    missing = await client.get("/v1/stock/p-nothing")
    assert stocks[0] == {"product_id": "p-espresso", "on_hand": 1000, "reserved": 0, "available": 1000}
    assert all(s["on_hand"] == 1000 for s in stocks)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_staff_sets_stock_but_never_below_what_is_reserved(client):
    anonymous = await client.put("/v1/stock/p-new", json={"on_hand": 5})
    customer = await client.put("/v1/stock/p-new", json={"on_hand": 5}, headers=USERS.headers("ada"))
    created = await client.put("/v1/stock/p-new", json={"on_hand": 5}, headers=STAFF_HEADERS)
    await client.post("/v1/reservations", json=reservation("r-1", ("p-new", 4)))
    too_low = await client.put("/v1/stock/p-new", json={"on_hand": 3}, headers=STAFF_HEADERS)
    raised = await client.put("/v1/stock/p-new", json={"on_hand": 9}, headers=STAFF_HEADERS)
    assert anonymous.status_code == 401
    assert customer.status_code == 403
    assert created.json() == {"product_id": "p-new", "on_hand": 5, "reserved": 0, "available": 5}
    assert too_low.status_code == 409
    assert raised.json() == {"product_id": "p-new", "on_hand": 9, "reserved": 4, "available": 5}


async def test_a_reservation_holds_stock_and_a_repeat_answers_the_same(client, clock):
    body = reservation("r-1", ("p-mug", 2), ("p-espresso", 1), ("p-mug", 1))
    first = await client.post("/v1/reservations", json=body)
    repeat = await client.post("/v1/reservations", json=body)
    fetched = await client.get("/v1/reservations/r-1")
    assert first.status_code == repeat.status_code == 201
    assert first.json() == repeat.json() == fetched.json()
    assert first.json()["status"] == "held"
    assert first.json()["lines"] == [  # merged per product, sorted
        {"product_id": "p-espresso", "quantity": 1},
        {"product_id": "p-mug", "quantity": 3},
    ]
    assert first.json()["expires_at"] == "2027-01-15T08:01:00.000Z"  # manual clock + 60 s
    assert await stock_of(client, "p-mug") == {"product_id": "p-mug", "on_hand": 1000, "reserved": 3, "available": 997}
    assert (await stock_of(client, "p-espresso"))["reserved"] == 1


async def test_reusing_a_reservation_id_for_other_lines_is_refused(client):
    await client.post("/v1/reservations", json=reservation("r-1", ("p-mug", 2)))
    other_lines = await client.post("/v1/reservations", json=reservation("r-1", ("p-mug", 3)))
    other_order = await client.post("/v1/reservations", json=reservation("r-1", ("p-mug", 2), order="o-2"))
    assert other_lines.status_code == other_order.status_code == 422
    assert (await stock_of(client, "p-mug"))["reserved"] == 2


async def test_insufficient_stock_holds_nothing_at_all(client):
    await client.put("/v1/stock/p-mug", json={"on_hand": 3}, headers=STAFF_HEADERS)
    short = await client.post("/v1/reservations", json=reservation("r-1", ("p-espresso", 5), ("p-mug", 4)))
    unknown = await client.post("/v1/reservations", json=reservation("r-2", ("p-nothing", 1)))
    assert short.status_code == unknown.status_code == 409
    assert short.json()["type"] == "urn:baton:problem:insufficient-stock"
    assert (await client.get("/v1/reservations/r-1")).status_code == 404
    assert (await stock_of(client, "p-espresso"))["reserved"] == 0  # the line that fitted was rolled back
    assert (await stock_of(client, "p-mug"))["reserved"] == 0


async def test_commit_takes_units_out_of_stock_once(client):
    await client.post("/v1/reservations", json=reservation("r-1", ("p-scale", 2)))
    first = await client.post("/v1/reservations/r-1/commit")
    again = await client.post("/v1/reservations/r-1/commit")
    release = await client.post("/v1/reservations/r-1/release")
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "committed"
    assert release.status_code == 409
    assert await stock_of(client, "p-scale") == {
        "product_id": "p-scale",
        "on_hand": 998,
        "reserved": 0,
        "available": 998,
    }


async def test_release_gives_units_back_once_and_closes_the_reservation(client):
    await client.post("/v1/reservations", json=reservation("r-1", ("p-scale", 2)))
    first = await client.post("/v1/reservations/r-1/release")
    again = await client.post("/v1/reservations/r-1/release")
    commit = await client.post("/v1/reservations/r-1/commit")
    retried = await client.post("/v1/reservations", json=reservation("r-1", ("p-scale", 2)))
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "released"
    assert commit.status_code == retried.status_code == 409
    assert await stock_of(client, "p-scale") == {
        "product_id": "p-scale",
        "on_hand": 1000,
        "reserved": 0,
        "available": 1000,
    }


async def test_releasing_an_unknown_reservation_is_a_no_op_that_blocks_a_late_reserve(client):
    release = await client.post("/v1/reservations/r-late/release")
    late = await client.post("/v1/reservations", json=reservation("r-late", ("p-mug", 1)))
    unknown_commit = await client.post("/v1/reservations/r-never/commit")
    assert release.status_code == 200
    assert release.json()["status"] == "released"
    assert late.status_code == 409  # the compensation ran first: the delayed reserve must not hold stock
    assert unknown_commit.status_code == 404
    assert (await stock_of(client, "p-mug"))["reserved"] == 0


async def test_expired_reservations_are_released_once_and_announced(client, clock, outbox_events):
    await client.post("/v1/reservations", json=reservation("r-short", ("p-mug", 2), ttl=30, order="o-7"))
    await client.post("/v1/reservations", json=reservation("r-long", ("p-mug", 3), ttl=120))
    clock.advance(31)
    swept_now = await inventory.expire_due(inventory.service.sessions, 100)
    swept_again = await inventory.expire_due(inventory.service.sessions, 100)
    short = (await client.get("/v1/reservations/r-short")).json()
    commit = await client.post("/v1/reservations/r-short/commit")
    expired = [e for e in await outbox_events() if e.type == RESERVATION_EXPIRED]
    # The background sweeper may have expired it first; either way exactly one expiry happened.
    assert swept_now + swept_again <= 1
    assert short["status"] == "expired"
    assert commit.status_code == 409
    assert (await stock_of(client, "p-mug"))["reserved"] == 3  # r-long still held
    assert [e.data for e in expired] == [{"reservation_id": "r-short", "order_id": "o-7"}]
    assert expired[0].subject == "r-short"


async def test_the_sweeper_component_expires_on_its_own(client, clock):
    await client.post("/v1/reservations", json=reservation("r-1", ("p-tamper", 4), ttl=10))
    assert (await stock_of(client, "p-tamper"))["reserved"] == 4
    clock.advance(10)

    async def released() -> bool:
        return (await client.get("/v1/reservations/r-1")).json()["status"] == "expired"

    await wait_until(released, timeout=5, message="the sweeper expired r-1")
    assert (await stock_of(client, "p-tamper"))["reserved"] == 0
    assert inventory.sweeper.rounds > 0


async def test_a_commit_after_the_ttl_is_refused_even_before_the_sweeper_runs(
    running, tmp_path: Path, clock, monkeypatch
):
    monkeypatch.setenv("INVENTORY_SWEEP_INTERVAL", "3600")  # the sweeper's first round ran at start; no other
    async with running(tmp_path) as client:
        await client.post("/v1/reservations", json=reservation("r-1", ("p-tamper", 1), ttl=10))
        clock.advance(10)
        commit = await client.post("/v1/reservations/r-1/commit")
        held = (await client.get("/v1/reservations/r-1")).json()["status"]
    assert commit.status_code == 409
    assert "expired" in commit.json()["detail"]
    assert held == "held"  # waiting for the sweeper, which gives the units back and announces it


async def concurrent_reservations(client: httpx.AsyncClient) -> tuple[list[int], dict]:
    await client.put("/v1/stock/p-mug", json={"on_hand": 10}, headers=STAFF_HEADERS)
    bodies = [reservation(f"r-{i}", ("p-mug", 1 + i % 2), ("p-filters", 1)) for i in range(24)]
    answers = await asyncio.gather(*(client.post("/v1/reservations", json=b) for b in bodies))
    statuses = [a.status_code for a in answers]
    held = sum(1 + i % 2 for i, status in enumerate(statuses) if status == 201)
    return statuses, {
        "held": held,
        "mug": await stock_of(client, "p-mug"),
        "filters": await stock_of(client, "p-filters"),
    }


async def test_concurrent_reservations_never_oversell(client):
    statuses, after = await concurrent_reservations(client)
    assert set(statuses) <= {201, 409}
    assert statuses.count(409) > 0  # 24 requests wanting 36 mugs compete for 10
    assert after["mug"]["reserved"] == after["held"] <= 10
    assert after["mug"]["available"] == 10 - after["held"] >= 0
    assert after["mug"]["available"] < 2  # every request that could still fit was granted
    assert after["filters"]["reserved"] == statuses.count(201)  # all-or-nothing across lines


@pytest.mark.integration
@pytest.mark.scaleout
async def test_concurrent_reservations_never_oversell_on_postgres(running, database_url, tmp_path: Path):
    async with running(tmp_path, db_url=database_url) as client:
        statuses, after = await concurrent_reservations(client)
        release = await client.post("/v1/reservations/r-0/release")
        unknown = await client.post("/v1/reservations/r-x/release")
    assert set(statuses) <= {201, 409}
    assert after["mug"]["reserved"] == after["held"] <= 10
    assert after["mug"]["available"] < 2
    assert after["filters"]["reserved"] == statuses.count(201)
    assert release.status_code == unknown.status_code == 200
