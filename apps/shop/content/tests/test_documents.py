"""Draft & publish, i18n, relations, validation, API tokens and HTTP caching of the hub's REST API."""

# ruff: noqa: E501  (tables of cases read best one case per line)

from __future__ import annotations

import httpx
import pytest
from apps.shop.content.service import service
from content_helpers import FULL, READ, create
from sqlalchemy import select

from baton.events import CloudEvent
from baton.events.tables import outbox


async def test_a_draft_is_invisible_until_published_and_gone_when_unpublished(http: httpx.AsyncClient):
    draft = await create(http, "product-blurbs", {"productId": "p-mug", "headline": "Mug"}, status="draft")
    doc = draft["documentId"]
    assert draft["publishedAt"] is None
    assert (await http.get(f"/api/product-blurbs/{doc}")).status_code == 404
    assert (await http.get(f"/api/product-blurbs/{doc}?status=draft", headers=READ)).json()["data"]["headline"] == "Mug"

    published = await http.post(
        f"/content-manager/collection-types/api::product-blurb.product-blurb/{doc}/actions/publish", headers=FULL
    )
    assert published.status_code == 200
    assert (await http.get(f"/api/product-blurbs/{doc}")).json()["data"]["publishedAt"] is not None

    # A draft edit leaves the published version as it was; a plain PUT publishes it.
    await http.put(f"/api/product-blurbs/{doc}?status=draft", json={"data": {"headline": "Big mug"}}, headers=FULL)
    assert (await http.get(f"/api/product-blurbs/{doc}")).json()["data"]["headline"] == "Mug"
    await http.put(f"/api/product-blurbs/{doc}", json={"data": {}}, headers=FULL)
    assert (await http.get(f"/api/product-blurbs/{doc}")).json()["data"]["headline"] == "Big mug"

    unpublished = await http.post(
        f"/content-manager/collection-types/api::product-blurb.product-blurb/{doc}/actions/unpublish", headers=FULL
    )
    assert unpublished.json()["data"]["publishedAt"] is None
    assert (await http.get(f"/api/product-blurbs/{doc}")).status_code == 404
    assert (await http.get(f"/api/product-blurbs/{doc}?status=draft", headers=READ)).status_code == 200


async def test_a_locale_version_shares_non_localized_attributes(http: httpx.AsyncClient):
    en = await create(http, "product-blurbs", {"productId": "p-mug", "headline": "Ceramic mug", "highlight": True})
    doc = en["documentId"]
    fr = await http.put(f"/api/product-blurbs/{doc}?locale=fr", json={"data": {"headline": "Tasse"}}, headers=FULL)
    assert fr.status_code == 200
    assert fr.json()["data"] | {"id": 0} == fr.json()["data"] | {
        "id": 0,
        "documentId": doc,
        "locale": "fr",
        "productId": "p-mug",
        "highlight": True,
        "headline": "Tasse",
    }
    # Changing a shared attribute in one locale changes it in every locale.
    await http.put(f"/api/product-blurbs/{doc}?locale=fr", json={"data": {"productId": "p-scale"}}, headers=FULL)
    english = (await http.get(f"/api/product-blurbs/{doc}?status=draft", headers=READ)).json()["data"]
    assert (english["productId"], english["headline"]) == ("p-scale", "Ceramic mug")
    # Deleting one locale keeps the others.
    assert (await http.delete(f"/api/product-blurbs/{doc}?locale=fr", headers=FULL)).status_code == 204
    assert (await http.get(f"/api/product-blurbs/{doc}?locale=fr")).status_code == 404
    assert (await http.get(f"/api/product-blurbs/{doc}")).status_code == 200


async def test_seed_has_blurbs_in_two_locales_templates_and_an_article(seeded: httpx.AsyncClient):
    english = (await seeded.get("/api/product-blurbs?pagination[pageSize]=100")).json()
    french = (await seeded.get("/api/product-blurbs?locale=fr")).json()
    templates = (await seeded.get("/api/email-templates?sort=name", headers=READ)).json()["data"]
    article = (await seeded.get("/api/articles?populate=author")).json()["data"][0]
    assert english["meta"]["pagination"]["total"] == 12
    assert {e["productId"] for e in french["data"]} == {"p-espresso", "p-house-blend", "p-moka-pot", "p-grinder"}
    assert [t["name"] for t in templates] == ["order-cancelled", "order-confirmed"]
    assert "${order_ref}" in templates[1]["subject"]
    assert article["author"]["name"] == "Ada Barista"


async def test_relations_connect_disconnect_and_set(http: httpx.AsyncClient):
    first = await create(http, "articles", {"title": "One"})
    second = await create(http, "articles", {"title": "Two"})
    third = await create(http, "articles", {"title": "Three", "related": [first["documentId"]]})
    doc = third["documentId"]

    async def related() -> list[str]:
        entry = (await http.get(f"/api/articles/{doc}?populate=related")).json()["data"]
        return [r["title"] for r in entry["related"]]

    assert await related() == ["One"]
    await http.put(
        f"/api/articles/{doc}", json={"data": {"related": {"connect": [second["documentId"]]}}}, headers=FULL
    )
    assert await related() == ["One", "Two"]
    await http.put(
        f"/api/articles/{doc}", json={"data": {"related": {"disconnect": [first["documentId"]]}}}, headers=FULL
    )
    assert await related() == ["Two"]
    await http.put(f"/api/articles/{doc}", json={"data": {"related": {"set": []}}}, headers=FULL)
    assert await related() == []


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({}, ["title"], "title must be defined."),
        ({"title": 7}, ["title"], "title must be a `string` type"),
        ({"title": "x", "readingMinutes": -1}, ["readingMinutes"], "readingMinutes must be greater than or equal to 0"),
        ({"title": "x", "category": "gossip"}, ["category"], "category must be one of the following values: guide, news, origin"),
        ({"title": "x", "publishedOn": "yesterday"}, ["publishedOn"], "publishedOn must be a valid ISO-8601 date"),
        ({"title": "x", "author": "nosuchauthor"}, ["author"], "author: unknown nosuchauthor"),
        ({"title": "x", "seo": {"metaDescription": "d"}}, ["seo", "metaTitle"], "metaTitle must be defined."),
        ({"title": "x", "blocks": [{"__component": "shared.nope"}]}, ["blocks", "0"], "0 __component must be one of ['shared.quote', 'shared.seo']"),
        ({"title": "x", "wat": 1}, ["wat"], "wat is not an attribute of article"),
    ],
)  # fmt: skip
async def test_invalid_bodies_are_validation_errors_naming_the_attribute(http, data, path, message):
    response = await http.post("/api/articles", json={"data": data}, headers=FULL)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["name"] == "ValidationError"
    assert {"path": path, "message": message, "name": "ValidationError"} in error["details"]["errors"]


async def test_missing_data_and_unique_attributes(http: httpx.AsyncClient):
    no_data = await http.post("/api/authors", json={"name": "x"}, headers=FULL)
    await create(http, "authors", {"name": "Ada"})
    duplicate = await http.post("/api/authors", json={"data": {"name": "Ada"}}, headers=FULL)
    assert no_data.json()["error"]["message"] == 'Missing "data" payload in the request body'
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["details"]["errors"][0]["path"] == ["name"]


async def test_tokens_and_the_public_role(http: httpx.AsyncClient):
    body = {"data": {"name": "order-x", "subject": "s", "body": "b"}}
    assert (await http.post("/api/email-templates", json=body)).status_code == 403
    assert (await http.post("/api/email-templates", json=body, headers=READ)).status_code == 403
    created = await http.post("/api/email-templates", json=body, headers=FULL)
    assert created.status_code == 201
    assert (await http.get("/api/email-templates")).status_code == 403  # not public
    assert (await http.get("/api/email-templates", headers=READ)).json()["data"][0]["name"] == "order-x"
    assert (await http.get("/api/product-blurbs")).status_code == 200  # public
    wrong = await http.get("/api/product-blurbs", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == {
        "status": 401,
        "name": "UnauthorizedError",
        "message": "Missing or invalid credentials",
        "details": {},
    }


async def test_etags_and_cache_control(http: httpx.AsyncClient):
    await create(http, "product-blurbs", {"productId": "p-mug", "headline": "Mug"})
    first = await http.get("/api/product-blurbs")
    etag = first.headers["ETag"]
    again = await http.get("/api/product-blurbs", headers={"If-None-Match": etag})
    private = await http.get("/api/product-blurbs", headers=READ)
    draft = await http.get("/api/product-blurbs?status=draft", headers=READ)
    assert first.headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag)
    assert private.headers["Cache-Control"].startswith("private")
    assert draft.headers["Cache-Control"] == "no-store"
    await http.put(
        f"/api/product-blurbs/{first.json()['data'][0]['documentId']}",
        json={"data": {"headline": "Mug!"}},
        headers=FULL,
    )
    changed = await http.get("/api/product-blurbs", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


async def test_every_change_is_a_cloudevent_in_the_outbox(http: httpx.AsyncClient):
    blurb = await create(http, "product-blurbs", {"productId": "p-mug", "headline": "Mug"})
    await http.delete(f"/api/product-blurbs/{blurb['documentId']}", headers=FULL)
    async with service.transaction() as session:
        payloads = (await session.scalars(select(outbox.c.payload).order_by(outbox.c.seq))).all()
    events = [CloudEvent.from_json(p) for p in payloads]
    assert [e.type for e in events] == [
        "shop.content.entry.created.v1",
        "shop.content.entry.published.v1",
        "shop.content.entry.deleted.v1",
    ]
    published = events[1]
    assert published.source == "content"
    assert published.subject == blurb["documentId"]
    assert published.data["event"] == "entry.publish"
    assert {k: published.data[k] for k in ("model", "uid", "documentId", "locale")} == {
        "model": "product-blurb",
        "uid": "api::product-blurb.product-blurb",
        "documentId": blurb["documentId"],
        "locale": "en",
    }
    assert published.data["entry"]["headline"] == "Mug"
    assert published.data["entry"]["publishedAt"] is not None
