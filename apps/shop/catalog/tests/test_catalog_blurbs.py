"""Product pages carry their localized blurb from the content hub: ``?locale=`` first, then ``Accept-Language``, then
English; ``null`` when the hub has none or cannot answer. In-process with a fake hub reader (no hub needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from apps.shop.catalog.service import blurbs

from baton.errors import UpstreamRejected, UpstreamUnavailable

BLURBS = {
    ("p-espresso", "en"): ("Espresso Roast", "Dark roast, cocoa notes."),
    ("p-espresso", "fr"): ("Torréfaction espresso", "Une torréfaction sombre."),
    ("p-mug", "en"): ("Ceramic Mug", "Holds 300 ml."),
}


class FakeHub:
    """``ContentClient.localized`` over a dict: the first of ``[locale, *fallbacks]`` that has the product."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, tuple[str, ...]]] = []
        self.failure: Exception | None = None

    async def localized(
        self, api_id: str, *, filters: Mapping[str, Any], locale: str | None, fallbacks: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        assert api_id == "product-blurbs"
        self.calls.append((locale, tuple(fallbacks)))
        if self.failure is not None:
            raise self.failure
        product_id = filters["productId"]["$eq"]
        for candidate in [locale or "en", *fallbacks]:
            if (product_id, candidate) in BLURBS:
                headline, blurb = BLURBS[product_id, candidate]
                return {"productId": product_id, "headline": headline, "blurb": blurb, "locale": candidate}
        return None


@pytest.fixture
async def hub(client) -> FakeHub:
    fake = FakeHub()
    blurbs.reader = fake  # replaced for this instance only: stop() restores the configured reader
    return fake


async def _blurb(client, path: str, **kwargs) -> Any:
    response = await client.get(path, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()["blurb"]


@pytest.mark.parametrize(
    ("path", "headers", "expected_locale", "expected_headline"),
    [
        ("/v1/products/p-espresso", {}, "en", "Espresso Roast"),  # no preference: English
        ("/v1/products/p-espresso", {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}, "fr", "Torréfaction espresso"),
        ("/v1/products/p-espresso?locale=en", {"Accept-Language": "fr"}, "en", "Espresso Roast"),  # ?locale= wins
        ("/v2/products/p-espresso?locale=fr", {}, "fr", "Torréfaction espresso"),
        ("/v1/products/p-mug", {"Accept-Language": "fr"}, "en", "Ceramic Mug"),  # no French blurb: English
        ("/v2/products/p-mug?locale=fr", {}, "en", "Ceramic Mug"),
    ],
)
async def test_a_product_page_carries_its_blurb_in_the_best_locale(
    client, hub, path, headers, expected_locale, expected_headline
):
    blurb = await _blurb(client, path, headers=headers)
    assert (blurb["locale"], blurb["headline"]) == (expected_locale, expected_headline)
    assert set(blurb) == {"headline", "blurb", "locale"}


async def test_the_header_preferences_reach_the_hub_in_quality_order_before_the_fallback(client, hub):
    await _blurb(client, "/v1/products/p-espresso", headers={"Accept-Language": "en;q=0.2, de, fr-CH;q=0.8"})
    assert hub.calls == [("de", ("fr-CH", "en"))]


async def test_a_product_without_any_blurb_has_null(client, hub):
    assert await _blurb(client, "/v1/products/p-grinder", headers={"Accept-Language": "fr"}) is None


@pytest.mark.parametrize(
    "failure", [UpstreamUnavailable("connection refused"), UpstreamRejected("401 from the hub", status=401)]
)
async def test_the_page_works_when_the_hub_is_down_or_refuses(client, hub, failure):
    hub.failure = failure
    response = await client.get("/v2/products/p-espresso", headers={"Accept-Language": "fr"})
    assert response.status_code == 200
    assert response.json()["blurb"] is None
    assert response.json()["title"] == "Espresso Roast"


async def test_pages_vary_on_accept_language_and_lists_carry_no_blurb(client, hub):
    page = await client.get("/v1/products/p-espresso")
    listed = (await client.get("/v1/products", params={"q": "espresso roast"})).json()["items"]
    assert page.headers["Vary"] == "Accept-Language"
    assert listed
    assert all("blurb" not in item for item in listed)
    assert len(hub.calls) == 1  # only the page asked the hub


async def test_a_malformed_locale_parameter_is_a_422(client, hub):
    response = await client.get("/v1/products/p-espresso", params={"locale": "fr;drop"})
    assert response.status_code == 422
    assert hub.calls == []
