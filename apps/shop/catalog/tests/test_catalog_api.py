"""The catalog through its HTTP API, in-process on a real SQLite database (no bus): the seed, search,
v1/v2 shapes, staff-only writes, idempotent creation and price changes announced through the outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from apps.shop.catalog import seed
from apps.shop.catalog.events import PRODUCT_CREATED, PRODUCT_PRICE_CHANGED
from apps.shop.catalog.service import service
from apps.shop.common.testusers import STAFF, USERS

from baton.kit import InstanceSettings

STAFF_HEADERS = USERS.headers("staff-1", roles=STAFF)
NEW_PRODUCT = {
    "sku": "ACC-CAN-001",
    "name": "Coffee Canister",
    "description": "Airtight canister for 500 g of beans.",
    "price_cents": 1890,
    "category_id": "c-accessories",
}


async def all_products(client: httpx.AsyncClient, *, version: str = "v1", **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = await client.get(f"/{version}/products", params={**params, "cursor": cursor} if cursor else params)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


async def test_the_seed_plants_the_demo_catalog_and_announces_every_product(client, outbox_events):
    products = await all_products(client)
    categories = (await client.get("/v1/categories")).json()["items"]
    events = await outbox_events()
    assert sorted(p["id"] for p in products) == sorted(seed.PRODUCT_IDS)
    assert len(products) == 12
    assert {c["id"] for c in categories} == {"c-coffee", "c-brewing", "c-accessories"}
    assert [e.type for e in events] == [PRODUCT_CREATED] * 12
    espresso = next(e for e in events if e.subject == "p-espresso")
    assert espresso.data == {
        "product_id": "p-espresso",
        "sku": "COF-ESP-500",
        "name": "Espresso Roast",
        "price_cents": 1490,
        "currency": "EUR",
        "category_id": "c-coffee",
        "version": 1,
    }


async def test_restarting_does_not_seed_twice(tmp_path: Path, outbox_events):
    for _ in range(2):
        async with service.running(InstanceSettings(home=tmp_path)):
            events = await outbox_events()
    assert len(events) == 12


async def test_without_the_seed_the_catalog_starts_empty(no_seed, client, outbox_events):
    assert (await client.get("/v1/products")).json() == {"items": [], "next_cursor": None}
    assert await outbox_events() == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "ESPRESSO"}, {"p-espresso", "p-moka-pot", "p-tamper"}),  # name or description, any case
        ({"q": "beans"}, {"p-espresso", "p-house-blend"}),
        ({"q": "100%"}, set()),  # LIKE wildcards in the query are literal
        ({"category": "c-brewing"}, {"p-moka-pot", "p-french-press", "p-pour-over", "p-grinder"}),
        ({"q": "espresso", "category": "c-coffee"}, {"p-espresso"}),
        ({"category": "c-nothing"}, set()),
    ],
)
async def test_search_by_text_and_category(client, params, expected):
    assert {p["id"] for p in await all_products(client, **params)} == expected


async def test_pages_cover_every_product_once(client):
    first = (await client.get("/v1/products", params={"limit": 5})).json()
    paged = await all_products(client, limit=5)
    assert len(first["items"]) == 5
    assert first["next_cursor"] == first["items"][-1]["id"]
    assert [p["id"] for p in paged] == sorted(seed.PRODUCT_IDS)
    assert (await client.get("/v1/products", params={"limit": 101})).status_code == 422


async def test_v1_and_v2_shape_the_same_product(client):
    v1 = (await client.get("/v1/products/p-grinder")).json()
    v2 = (await client.get("/v2/products/p-grinder")).json()
    listed_v2 = await all_products(client, version="v2", q="grinder")
    assert v1 == {
        "id": "p-grinder",
        "sku": "BRW-GRN-040",
        "name": "Burr Grinder",
        "description": "Conical burr grinder, 40 settings.",
        "price_cents": 8990,
        "currency": "EUR",
        "category_id": "c-brewing",
        "version": 1,
        "blurb": None,  # no content hub in these tests: the page goes without (see test_catalog_blurbs.py)
    }
    assert v2 == {
        "id": "p-grinder",
        "sku": "BRW-GRN-040",
        "title": "Burr Grinder",
        "description": "Conical burr grinder, 40 settings.",
        "price": {"amount_cents": 8990, "currency": "EUR"},
        "category": {"id": "c-brewing", "name": "Brewing equipment"},
        "version": 1,
        "blurb": None,
    }
    assert listed_v2 == [{k: v for k, v in v2.items() if k != "blurb"}]  # lists carry no blurbs


async def test_an_unknown_product_is_a_404_problem(client):
    for path in ("/v1/products/p-nothing", "/v2/products/p-nothing"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_writes_are_for_staff_only(client, outbox_events):
    anonymous = await client.post("/v1/products", json=NEW_PRODUCT)
    created = await client.post("/v1/products", json=NEW_PRODUCT, headers=USERS.headers("ada"))
    priced = await client.put("/v1/products/p-mug/price", json={"price_cents": 1}, headers=USERS.headers("ada"))
    # The old header means nothing now: roles come from the access token only.
    spoofed = await client.put(
        "/v1/products/p-mug/price", json={"price_cents": 1}, headers={**USERS.headers("ada"), "X-Baton-Role": "staff"}
    )
    assert anonymous.status_code == 401
    assert created.status_code == priced.status_code == spoofed.status_code == 403
    assert created.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/products/p-mug")).json()["price_cents"] == 1290
    assert len(await outbox_events()) == 12


async def test_creating_a_product_is_idempotent_and_announced(client, outbox_events):
    headers = {**STAFF_HEADERS, "Idempotency-Key": "canister-1"}
    first = await client.post("/v1/products", json=NEW_PRODUCT, headers=headers)
    replay = await client.post("/v1/products", json=NEW_PRODUCT, headers=headers)
    fetched = await client.get(first.headers["Location"])
    events = [e for e in await outbox_events() if e.subject == first.json()["id"]]
    assert first.status_code == 201
    assert replay.json() == first.json() == {k: v for k, v in fetched.json().items() if k != "blurb"}
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert first.json()["version"] == 1
    assert len(first.json()["id"]) == 32  # UUID4 hex when no id is given
    assert [e.data["sku"] for e in events] == ["ACC-CAN-001"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"sku": "COF-ESP-500"}, 409),  # SKU of the seeded espresso
        ({"id": "p-espresso"}, 409),
        ({"category_id": "c-nothing"}, 422),
        ({"price_cents": -1}, 422),
        ({"currency": "euro"}, 422),
    ],
)
async def test_invalid_products_are_refused(client, outbox_events, change, status):
    response = await client.post("/v1/products", json={**NEW_PRODUCT, **change}, headers=STAFF_HEADERS)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert len(await outbox_events()) == 12


async def test_a_price_change_bumps_the_version_and_emits_old_and_new_price(client, outbox_events):
    changed = await client.put("/v1/products/p-espresso/price", json={"price_cents": 1590}, headers=STAFF_HEADERS)
    unchanged = await client.put("/v1/products/p-espresso/price", json={"price_cents": 1590}, headers=STAFF_HEADERS)
    v2 = (await client.get("/v2/products/p-espresso")).json()
    events = [e for e in await outbox_events() if e.type == PRODUCT_PRICE_CHANGED]
    assert changed.status_code == 200
    assert changed.json()["price_cents"] == 1590
    assert changed.json()["version"] == unchanged.json()["version"] == v2["version"] == 2
    assert v2["price"] == {"amount_cents": 1590, "currency": "EUR"}
    assert len(events) == 1  # setting the same price again is not a change
    assert events[0].subject == "p-espresso"
    assert events[0].data == {
        "product_id": "p-espresso",
        "old_price_cents": 1490,
        "price_cents": 1590,
        "currency": "EUR",
        "version": 2,
    }


async def test_concurrent_price_changes_form_one_unbroken_version_chain(client, outbox_events):
    prices = [2000 + i for i in range(6)]
    answers = await asyncio.gather(
        *(client.put("/v1/products/p-scale/price", json={"price_cents": p}, headers=STAFF_HEADERS) for p in prices)
    )
    events = [e.data for e in await outbox_events() if e.type == PRODUCT_PRICE_CHANGED]
    final = (await client.get("/v1/products/p-scale")).json()
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert [e["version"] for e in events] == [2, 3, 4, 5, 6, 7]
    # Each event's old price is the previous event's new price: no change was lost or announced twice.
    assert [e["old_price_cents"] for e in events] == [2990] + [e["price_cents"] for e in events[:-1]]
    assert final["version"] == 7
    assert final["price_cents"] == events[-1]["price_cents"]


async def test_price_change_of_an_unknown_product_is_a_404(client):
    response = await client.put("/v1/products/p-nothing/price", json={"price_cents": 100}, headers=STAFF_HEADERS)
    assert response.status_code == 404
