"""GraphQL over the same content types: parity with REST on the same questions, mutations, and the limits."""

# ruff: noqa: E501  (tables of cases read best one case per line)

from __future__ import annotations

import httpx
from content_helpers import FULL, READ

# (REST query string, GraphQL arguments of productBlurbs): the same question asked both ways.
PARITY: list[tuple[str, str]] = [
    ("", ""),
    ("filters[productId][$eq]=p-mug", 'filters: {productId: {eq: "p-mug"}}'),
    ("filters[headline][$containsi]=ROAST", 'filters: {headline: {containsi: "ROAST"}}'),
    ("filters[headline][$startsWith]=Espresso", 'filters: {headline: {startsWith: "Espresso"}}'),
    ("filters[productId][$in][0]=p-mug&filters[productId][$in][1]=p-scale", 'filters: {productId: {in: ["p-mug", "p-scale"]}}'),
    ("filters[$or][0][productId][$eq]=p-mug&filters[$or][1][headline][$endsWith]=Blend",
     'filters: {or: [{productId: {eq: "p-mug"}}, {headline: {endsWith: "Blend"}}]}'),
    ("filters[$not][headline][$containsi]=e", 'filters: {not: {headline: {containsi: "e"}}}'),
    ("filters[highlight][$eq]=false&sort=headline:desc", "filters: {highlight: {eq: false}}, sort: [\"headline:desc\"]"),
    ("sort=productId&pagination[page]=2&pagination[pageSize]=5", 'sort: ["productId"], pagination: {page: 2, pageSize: 5}'),
    ("sort=productId&pagination[start]=3&pagination[limit]=4", 'sort: ["productId"], pagination: {start: 3, limit: 4}'),
    ("locale=fr&sort=headline", 'locale: "fr", sort: ["headline"]'),
    ("filters[headline][$null]=true", "filters: {headline: {null: true}}"),
]  # fmt: skip


async def _graphql(http: httpx.AsyncClient, query: str, headers: dict | None = None) -> dict:
    response = await http.post("/graphql", json={"query": query}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


async def test_graphql_answers_what_rest_answers(seeded: httpx.AsyncClient):
    for rest, args in PARITY:
        from_rest = (await seeded.get(f"/api/product-blurbs?{rest}")).json()["data"]
        selection = "documentId productId headline locale"
        body = await _graphql(seeded, f"{{ productBlurbs{f'({args})' if args else ''} {{ {selection} }} }}")
        assert "errors" not in body, (args, body)
        expected = [{k: e[k] for k in ("documentId", "productId", "headline", "locale")} for e in from_rest]
        assert body["data"]["productBlurbs"] == expected, rest


async def test_relations_connection_and_find_one(seeded: httpx.AsyncClient):
    rest = (await seeded.get("/api/articles?populate=author")).json()["data"][0]
    body = await _graphql(
        seeded,
        '{ articles(filters: {author: {name: {eq: "Ada Barista"}}}) { documentId title author { name } }'
        " articles_connection { pageInfo { page pageSize pageCount total } nodes { title } }"
        f' article(documentId: "{rest["documentId"]}") {{ title readingMinutes }} }}',
    )
    assert body["data"]["articles"] == [
        {"documentId": rest["documentId"], "title": rest["title"], "author": {"name": rest["author"]["name"]}}
    ]
    assert body["data"]["articles_connection"]["pageInfo"] == {"page": 1, "pageSize": 25, "pageCount": 1, "total": 1}
    assert body["data"]["article"] == {"title": rest["title"], "readingMinutes": 6}


async def test_mutations_need_a_full_access_token(seeded: httpx.AsyncClient):
    mutation = 'mutation { createAuthor(data: {name: "Grace"}) { documentId name } }'
    refused = await _graphql(seeded, mutation, READ)
    created = await _graphql(seeded, mutation, FULL)
    assert refused["data"]["createAuthor"] is None
    assert refused["errors"][0]["extensions"]["code"] == "ForbiddenError"
    document_id = created["data"]["createAuthor"]["documentId"]
    updated = await _graphql(
        seeded, f'mutation {{ updateAuthor(documentId: "{document_id}", data: {{bio: "Admiral"}}) {{ bio }} }}', FULL
    )
    deleted = await _graphql(seeded, f'mutation {{ deleteAuthor(documentId: "{document_id}") {{ documentId }} }}', FULL)
    assert updated["data"]["updateAuthor"] == {"bio": "Admiral"}
    assert deleted["data"]["deleteAuthor"] == {"documentId": document_id}
    assert (await seeded.get(f"/api/authors/{document_id}")).status_code == 404


async def test_invalid_filters_are_the_same_validation_errors(seeded: httpx.AsyncClient):
    body = await _graphql(seeded, '{ productBlurbs(locale: "de") { headline } }')
    assert body["errors"][0]["extensions"]["error"]["message"] == "Invalid locale de"


async def test_depth_and_complexity_limits(seeded: httpx.AsyncClient):
    deep = "{ articles { author { articles { author { articles { author { articles { author { articles { title } } } } } } } } } }"
    costly = "{ articles(pagination: {pageSize: 100}) { related(pagination: {pageSize: 100}) { title summary body } } }"
    too_deep = await _graphql(seeded, deep)
    too_costly = await _graphql(seeded, costly)
    assert any("exceeds maximum operation depth of 8" in e["message"] for e in too_deep["errors"])
    assert too_costly["errors"][0]["message"].startswith("Query is too complex: cost 30101")
    assert too_costly.get("data") is None
