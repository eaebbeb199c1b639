"""REST conformance with Strapi v5: query string → expected result set, over one fixed data set.

Every filter operator, deep filters, ``$and``/``$or``/``$not``, ``sort``, both paginations, ``fields``,
``populate``, ``locale`` and ``status``, and the 400s Strapi answers for invalid parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from content_helpers import FULL, READ, create, running_hub

pytestmark = pytest.mark.asyncio(loop_scope="module")

ESPRESSO, LATTE, ORIGIN, NEWS, DRAFT = (
    "Espresso basics",
    "Latte art",
    "Origin: Ethiopia",
    "news of the week",
    "Secret draft",
)
ALL = {ESPRESSO, LATTE, ORIGIN, NEWS}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The hub holding: 3 authors, 4 published articles (one also in French) and one draft-only article."""
    home: Path = tmp_path_factory.mktemp("conformance")
    async with running_hub(home) as http:
        ada = await create(http, "authors", {"name": "Ada", "bio": "Roaster"})
        bob = await create(http, "authors", {"name": "Bob", "bio": None})
        await create(http, "authors", {"name": "Cyd", "bio": "Writer"})
        espresso = await create(
            http,
            "articles",
            {
                "title": ESPRESSO, "readingMinutes": 5, "rating": 4.5, "featured": True, "category": "guide",
                "publishedOn": "2026-01-10T00:00:00Z", "author": ada["documentId"],
                "seo": {"metaTitle": "Espresso"},
            },
        )  # fmt: skip
        await create(
            http,
            "articles",
            {
                "title": LATTE, "readingMinutes": 8, "rating": 3.0, "featured": False, "category": "guide",
                "publishedOn": "2026-02-01T00:00:00Z", "author": bob["documentId"], "related": [espresso["documentId"]],
            },
        )  # fmt: skip
        await create(
            http,
            "articles",
            {
                "title": ORIGIN,
                "readingMinutes": 12,
                "featured": False,
                "category": "origin",
                "author": ada["documentId"],
            },
        )
        await create(
            http,
            "articles",
            {"title": NEWS, "readingMinutes": 2, "rating": 4.9, "featured": True, "category": "news",
             "publishedOn": "2026-03-05T12:00:00Z"},
        )  # fmt: skip
        await create(http, "articles", {"title": DRAFT, "readingMinutes": 3}, status="draft")
        french = await http.put(
            f"/api/articles/{espresso['documentId']}",
            params={"locale": "fr"},
            json={"data": {"title": "Les bases de l'espresso"}},
            headers=FULL,
        )
        assert french.status_code == 200, french.text
        yield http


# (query string, expected titles): a set when order does not matter, a list when it does.
FILTERS: list[tuple[str, set[str] | list[str]]] = [
    ("", ALL),
    ("filters[title][$eq]=Latte art", {LATTE}),
    ("filters[title]=Latte art", {LATTE}),
    ("filters[title][$eqi]=LATTE ART", {LATTE}),
    ("filters[category][$ne]=guide", {ORIGIN, NEWS}),
    ("filters[title][$nei]=LATTE ART", {ESPRESSO, ORIGIN, NEWS}),
    ("filters[readingMinutes][$lt]=5", {NEWS}),
    ("filters[readingMinutes][$lte]=5", {ESPRESSO, NEWS}),
    ("filters[readingMinutes][$gt]=8", {ORIGIN}),
    ("filters[readingMinutes][$gte]=8", {LATTE, ORIGIN}),
    ("filters[category][$in][0]=news&filters[category][$in][1]=origin", {ORIGIN, NEWS}),
    ("filters[category][$notIn][0]=news&filters[category][$notIn][1]=origin", {ESPRESSO, LATTE}),
    ("filters[title][$contains]=art", {LATTE}),
    ("filters[title][$contains]=espresso", set()),  # case-sensitive, on SQLite too
    ("filters[title][$notContains]=a", {NEWS}),
    ("filters[title][$containsi]=ESPRESSO", {ESPRESSO}),
    ("filters[title][$notContainsi]=ART", {ESPRESSO, ORIGIN, NEWS}),
    ("filters[rating][$null]=true", {ORIGIN}),
    ("filters[publishedOn][$notNull]=true", {ESPRESSO, LATTE, NEWS}),
    ("filters[rating][$between][0]=4&filters[rating][$between][1]=5", {ESPRESSO, NEWS}),
    ("filters[publishedOn][$between]=2026-01-01T00:00:00.000Z,2026-02-28T00:00:00.000Z", {ESPRESSO, LATTE}),
    ("filters[title][$startsWith]=Latte", {LATTE}),
    ("filters[title][$startsWith]=latte", set()),
    ("filters[title][$startsWithi]=LATTE", {LATTE}),
    ("filters[title][$endsWith]=week", {NEWS}),
    ("filters[title][$endsWithi]=WEEK", {NEWS}),
    ("filters[$or][0][readingMinutes][$lt]=3&filters[$or][1][category][$eq]=origin", {ORIGIN, NEWS}),
    ("filters[$and][0][featured][$eq]=true&filters[$and][1][rating][$gt]=4.6", {NEWS}),
    ("filters[$not][featured][$eq]=true", {LATTE, ORIGIN}),
    ("filters[title][$not][$eq]=Latte art", {ESPRESSO, ORIGIN, NEWS}),
    ("filters[featured][$eq]=true", {ESPRESSO, NEWS}),
    ("filters[author][name][$eq]=Ada", {ESPRESSO, ORIGIN}),
    ("filters[author][bio][$null]=true", {LATTE}),
    ("filters[related][title][$startsWith]=Espresso", {LATTE}),
    ("filters[seo][metaTitle][$eq]=Espresso", {ESPRESSO}),
    ("filters[$or][0][author][name][$eq]=Bob&filters[$or][1][title][$endsWith]=week", {LATTE, NEWS}),
    ("sort=readingMinutes:desc", [ORIGIN, LATTE, ESPRESSO, NEWS]),
    ("sort[0]=featured:desc&sort[1]=title:asc", [ESPRESSO, NEWS, LATTE, ORIGIN]),
    ("sort=rating", [ORIGIN, LATTE, ESPRESSO, NEWS]),
    ("sort=readingMinutes:asc,title:desc", [NEWS, ESPRESSO, LATTE, ORIGIN]),
    ("locale=fr", {"Les bases de l'espresso"}),
    ("locale=fr&filters[readingMinutes][$eq]=5", {"Les bases de l'espresso"}),  # shared attribute, copied
]


@pytest.mark.parametrize(("query", "expected"), FILTERS, ids=[q or "(none)" for q, _ in FILTERS])
async def test_filters_sort_and_locale(api: httpx.AsyncClient, query: str, expected: set[str] | list[str]):
    response = await api.get(f"/api/articles?{query}")
    assert response.status_code == 200, response.text
    titles = [entry["title"] for entry in response.json()["data"]]
    assert (titles if isinstance(expected, list) else set(titles)) == expected


S = "sort=readingMinutes&"
BY_READING = [NEWS, ESPRESSO, LATTE, ORIGIN]


def by_page(page: int, size: int, count: int | None = None, total: int | None = None) -> dict:
    """``meta.pagination`` of page-based pagination (without count when ``total`` is None)."""
    meta = {"page": page, "pageSize": size}
    return meta if total is None else {**meta, "pageCount": count, "total": total}


PAGES: list[tuple[str, list[str], dict]] = [
    (S + "pagination[page]=2&pagination[pageSize]=1", [ESPRESSO], by_page(2, 1, 4, 4)),
    (S + "pagination[pageSize]=3&pagination[page]=2", [ORIGIN], by_page(2, 3, 2, 4)),
    (S + "pagination[start]=1&pagination[limit]=2", [ESPRESSO, LATTE], {"start": 1, "limit": 2, "total": 4}),
    (S + "pagination[page]=1&pagination[pageSize]=2&pagination[withCount]=false", [NEWS, ESPRESSO], by_page(1, 2)),
    (S + "pagination[pageSize]=500", BY_READING, by_page(1, 100, 1, 4)),
    (S + "pagination[limit]=-1", BY_READING, {"start": 0, "limit": 100, "total": 4}),
    (S + "pagination[page]=9", [], by_page(9, 25, 1, 4)),
]


@pytest.mark.parametrize(("query", "titles", "pagination"), PAGES, ids=[q for q, _, _ in PAGES])
async def test_pagination(api: httpx.AsyncClient, query: str, titles: list[str], pagination: dict):
    body = (await api.get(f"/api/articles?{query}")).json()
    assert [e["title"] for e in body["data"]] == titles
    assert body["meta"] == {"pagination": pagination}


async def test_default_pagination_is_page_one_of_25(api: httpx.AsyncClient):
    assert (await api.get("/api/articles")).json()["meta"]["pagination"] == {
        "page": 1,
        "pageSize": 25,
        "pageCount": 1,
        "total": 4,
    }


async def test_entries_are_flat_with_document_id_and_system_fields(api: httpx.AsyncClient):
    entry = (await api.get("/api/articles?filters[title][$eq]=Latte art")).json()["data"][0]
    assert len(entry["documentId"]) == 24
    assert isinstance(entry["id"], int)
    assert entry["locale"] == "en"
    assert entry["publishedAt"] is not None
    assert {"createdAt", "updatedAt", "slug", "readingMinutes"} <= set(entry)
    assert entry["slug"] == "latte-art"
    # Relations, media, components and zones wait for populate; private attributes never show.
    assert not {"author", "related", "cover", "seo", "blocks", "editorNotes"} & set(entry)


async def test_fields_selects_attributes_and_keeps_ids(api: httpx.AsyncClient):
    data = (await api.get("/api/articles?fields[0]=title&fields[1]=rating&sort=title")).json()["data"]
    assert {tuple(sorted(e)) for e in data} == {("documentId", "id", "rating", "title")}
    comma = (await api.get("/api/articles?fields=title,rating&sort=title")).json()["data"]
    assert comma == data


POPULATE: list[tuple[str, object]] = [
    ("populate=author", {"name": "Ada", "bio": "Roaster"}),
    ("populate[0]=author", {"name": "Ada", "bio": "Roaster"}),
    ("populate[author][fields][0]=name", {"name": "Ada"}),
    ("populate[author]=true", {"name": "Ada", "bio": "Roaster"}),
    ("populate=*", {"name": "Ada", "bio": "Roaster"}),
]


@pytest.mark.parametrize(("query", "author"), POPULATE, ids=[q for q, _ in POPULATE])
async def test_populate_relations(api: httpx.AsyncClient, query: str, author: dict):
    entry = (await api.get(f"/api/articles?filters[title][$eq]={ESPRESSO}&{query}")).json()["data"][0]
    shown = {
        k: v
        for k, v in entry["author"].items()
        if k not in ("id", "documentId", "createdAt", "updatedAt", "publishedAt")
    }
    assert shown == author
    assert len(entry["author"]["documentId"]) == 24


async def test_populate_star_shows_components_and_empty_relations(api: httpx.AsyncClient):
    entry = (await api.get(f"/api/articles?filters[title][$eq]={ESPRESSO}&populate=*")).json()["data"][0]
    assert entry["seo"] == {"id": 1, "metaTitle": "Espresso"}
    assert entry["related"] == []
    assert entry["cover"] is None
    assert entry["blocks"] == []


async def test_nested_populate_and_populate_filters(api: httpx.AsyncClient):
    query = (
        "filters[name][$eq]=Ada&populate[articles][populate][0]=author&populate[articles][sort]=title:desc"
        "&populate[articles][fields][0]=title"
    )
    ada = (await api.get(f"/api/authors?{query}")).json()["data"][0]
    assert [a["title"] for a in ada["articles"]] == []  # the inverse side of a mappedBy relation holds no links
    latte = (
        await api.get(
            f"/api/articles?filters[title][$eq]={LATTE}&populate[related][populate][0]=author"
            "&populate[related][filters][readingMinutes][$gt]=1"
        )
    ).json()["data"][0]
    assert [r["title"] for r in latte["related"]] == [ESPRESSO]
    assert latte["related"][0]["author"]["name"] == "Ada"
    filtered = (
        await api.get(f"/api/articles?filters[title][$eq]={LATTE}&populate[related][filters][readingMinutes][$gt]=6")
    ).json()["data"][0]
    assert filtered["related"] == []


async def test_find_one_by_document_id_per_locale(api: httpx.AsyncClient):
    espresso = (await api.get(f"/api/articles?filters[title][$eq]={ESPRESSO}")).json()["data"][0]
    one = await api.get(f"/api/articles/{espresso['documentId']}")
    french = await api.get(f"/api/articles/{espresso['documentId']}?locale=fr&populate=author")
    missing = await api.get("/api/articles/nosuchdocumentid00000000")
    assert one.json() == {"data": espresso, "meta": {}}
    assert french.json()["data"]["title"] == "Les bases de l'espresso"
    assert french.json()["data"]["author"]["name"] == "Ada"
    assert missing.status_code == 404
    assert missing.json()["error"]["name"] == "NotFoundError"


async def test_all_locales(api: httpx.AsyncClient):
    data = (await api.get("/api/articles?locale=*")).json()["data"]
    assert sorted((e["title"], e["locale"]) for e in data) == sorted(
        [(t, "en") for t in ALL] + [("Les bases de l'espresso", "fr")]
    )


async def test_draft_status_needs_a_token_and_shows_drafts(api: httpx.AsyncClient):
    public = await api.get("/api/articles?status=draft")
    drafts = await api.get("/api/articles?status=draft", headers=READ)
    assert public.status_code == 403
    titles = {e["title"] for e in drafts.json()["data"]}
    assert titles == ALL | {DRAFT}
    assert all(e["publishedAt"] is None for e in drafts.json()["data"])


INVALID: list[tuple[str, str]] = [
    ("filters[nope][$eq]=1", "Invalid key nope"),
    ("filters[title][$like]=x", "Invalid key $like"),
    ("filters[readingMinutes][$eq]=abc", "Invalid value for readingMinutes: expected a number"),
    ("filters[featured][$eq]=maybe", "Invalid value for featured: expected a boolean"),
    ("filters[rating][$between][0]=1", "Invalid value for rating: $between needs two values"),
    ("filters[editorNotes][$null]=true", "Invalid key editorNotes"),
    ("filters[cover][name][$eq]=x", "Invalid key cover"),
    ("sort=nope:asc", "Invalid key nope"),
    ("sort=title:sideways", "Invalid order sideways. Expected 'asc' or 'desc'"),
    ("pagination[page]=0", "Invalid 'page' parameter"),
    ("pagination[pageSize]=x", "Invalid 'pageSize' parameter"),
    ("pagination[page]=1&pagination[start]=0", "Cannot use both page & offset pagination in the same query"),
    ("pagination[offset]=3", "Invalid key offset"),
    ("locale=de", "Invalid locale de"),
    ("status=archived", "Invalid status. Expected 'draft' or 'published'"),
    ("populate=nope", "Invalid key nope"),
    ("populate[author][nope]=1", "Invalid key nope"),
    ("fields[0]=author", "Invalid key author"),
    ("unknown=1", "Invalid key unknown"),
]


@pytest.mark.parametrize(("query", "message"), INVALID, ids=[q for q, _ in INVALID])
async def test_invalid_parameters_are_strapi_validation_errors(api: httpx.AsyncClient, query: str, message: str):
    response = await api.get(f"/api/articles?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["data"] is None
    assert body["error"]["status"] == 400
    assert body["error"]["name"] == "ValidationError"
    assert body["error"]["message"] == message
    assert body["error"]["details"]["source"] == "query"


async def test_unknown_content_type_is_404(api: httpx.AsyncClient):
    response = await api.get("/api/nothings")
    assert response.status_code == 404
    assert response.json()["error"] == {"status": 404, "name": "NotFoundError", "message": "Not Found", "details": {}}
