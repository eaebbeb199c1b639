"""Locale negotiation (``Accept-Language`` onto the hub's locales) and the content client's localized reads,
against an in-memory hub behind the resilient client's transport seam."""

from __future__ import annotations

import orjson
import pytest

from baton.client import ServiceClient
from baton.client.response import Response
from baton.content import CachePolicy, ContentClient, match_locales, preferred_locales
from baton.discovery import Instance, StaticRegistry
from baton.errors import ConfigError, NoInstances
from baton.kit import InstanceSettings
from baton.kit.component import InstanceContext


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("fr", ["fr"]),
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", ["fr-CH", "fr", "en", "de"]),
        ("en;q=0.2, de, fr-CH;q=0.8", ["de", "fr-CH", "en"]),  # by quality, not position
        ("da, en-gb;q=0.8, en;q=0.8", ["da", "en-gb", "en"]),  # ties keep the header's order
        ("fr;q=0, en", ["en"]),  # q=0 means "not this one"
        ("fr;q=abc, en;q=2, de;q=0.5", ["de"]),  # malformed or out-of-range qualities are skipped
        ("<script>, fr", ["fr"]),  # not a language tag
    ],
)
def test_preferred_locales(header, expected):
    assert preferred_locales(header) == expected


def test_a_huge_header_is_cut_not_parsed_whole():
    assert len(preferred_locales(",".join(["fr"] * 10_000))) <= 16


@pytest.mark.parametrize(
    ("wanted", "available", "expected"),
    [
        (["fr-CH", "de", "en"], ["en", "fr"], ["fr", "en"]),  # region → language; unknown dropped
        (["fr-ch", "fr"], ["en", "fr-CH", "fr"], ["fr-CH", "fr"]),  # exact tag first, in the hub's spelling
        (["EN"], ["en"], ["en"]),
        (["de"], ["en", "fr"], []),
        (["en", "en-GB", "en"], ["en"], ["en"]),  # no repeats
    ],
)
def test_match_locales(wanted, available, expected):
    assert match_locales(wanted, available) == expected


# -- the client against an in-memory hub ---------------------------------------------------------------

BLURBS = [
    {"documentId": "b1", "productId": "p-espresso", "headline": "Espresso", "locale": "en"},
    {"documentId": "b1", "productId": "p-espresso", "headline": "Torréfaction", "locale": "fr"},
    {"documentId": "b2", "productId": "p-mug", "headline": "Mug", "locale": "en"},
]


class FakeHub:
    """Answers ``/api/i18n/locales`` and ``/api/product-blurbs`` with Strapi's shapes; refuses unknown locales."""

    def __init__(self, *, locales: list[str] | None) -> None:
        self.locales = locales
        self.requests: list[tuple[str, dict[str, str]]] = []

    async def handle(self, request) -> Response:
        params = dict(request.params or {})
        self.requests.append((request.path, params))
        if request.path == "/api/i18n/locales":
            if self.locales is None:
                return self._answer(404, {"data": None, "error": {"status": 404, "name": "NotFoundError"}})
            return self._answer(200, [{"code": c, "isDefault": i == 0} for i, c in enumerate(self.locales)])
        locale = params.get("locale", "en")
        if self.locales is not None and locale not in self.locales:
            return self._answer(400, {"data": None, "error": {"status": 400, "name": "ValidationError"}})
        product = params["filters[productId][$eq]"]
        data = [b for b in BLURBS if b["productId"] == product and b["locale"] == locale]
        return self._answer(200, {"data": data, "meta": {}})

    def _answer(self, status: int, body: object) -> Response:
        return Response(status, {"Content-Type": "application/json"}, orjson.dumps(body), target="content")

    def locales_asked(self) -> list[str]:
        return [p.get("locale", "") for path, p in self.requests if path == "/api/product-blurbs"]


def _client(hub: FakeHub) -> ContentClient:
    registry = StaticRegistry([Instance(service="content", id="content-1", host="127.0.0.1", port=1)])
    return ContentClient(http=ServiceClient("content", registry=registry, transport=hub))


def _ctx() -> InstanceContext:
    return InstanceContext(service="catalog", instance="catalog-1", settings=InstanceSettings())


async def test_localized_reads_only_locales_the_hub_has_and_caches_them():
    hub = FakeHub(locales=["en", "fr"])
    client = _client(hub)
    swiss = await client.localized(
        "product-blurbs", filters={"productId": {"$eq": "p-espresso"}}, locale="fr-CH", fallbacks=("de", "en")
    )
    mug = await client.localized(
        "product-blurbs", filters={"productId": {"$eq": "p-mug"}}, locale="fr", fallbacks=("en",)
    )
    asked = len(hub.requests)
    again = await client.localized(
        "product-blurbs", filters={"productId": {"$eq": "p-espresso"}}, locale="fr-CH", fallbacks=("de", "en")
    )
    assert swiss is not None
    assert (swiss["locale"], swiss["headline"]) == ("fr", "Torréfaction")
    assert mug is not None
    assert mug["locale"] == "en"
    assert hub.locales_asked() == ["fr", "fr", "en"]  # never de or fr-CH: the hub would answer 400
    assert again == swiss
    assert len(hub.requests) == asked  # served from the cache, locales included
    assert client.cache.tagged("api:product-blurbs") == 3  # espresso/fr, mug/fr (empty), mug/en
    assert client.invalidate_event({"event": "entry.publish", "model": "product-blurb", "documentId": "b2"}) == 3
    assert client.cache.tagged("api:i18n-locales") == 1  # content events do not touch the locale list


async def test_without_i18n_on_the_hub_the_locales_are_asked_as_given():
    hub = FakeHub(locales=None)
    client = _client(hub)
    found = await client.localized(
        "product-blurbs", filters={"productId": {"$eq": "p-mug"}}, locale="fr", fallbacks=("en",)
    )
    assert found is not None
    assert found["locale"] == "en"
    assert hub.locales_asked() == ["fr", "en"]


async def test_an_optional_client_without_a_hub_starts_and_fails_its_reads_like_a_hub_down(monkeypatch):
    monkeypatch.delenv("BATON_SERVICE_URLS", raising=False)
    optional = ContentClient(optional=True)
    await optional.start(_ctx())
    with pytest.raises(NoInstances):
        await optional.find("product-blurbs")
    await optional.stop()
    with pytest.raises(ConfigError, match="no way to find 'content'"):
        await ContentClient().start(_ctx())


async def test_the_locale_list_is_kept_even_by_a_client_that_caches_nothing():
    hub = FakeHub(locales=["en", "fr"])
    registry = StaticRegistry([Instance(service="content", id="content-1", host="127.0.0.1", port=1)])
    client = ContentClient(http=ServiceClient("content", registry=registry, transport=hub), policy=CachePolicy(ttl=0))
    for _ in range(3):
        await client.localized("product-blurbs", filters={"productId": {"$eq": "p-mug"}}, locale="fr-CH")
    paths = [path for path, _ in hub.requests]
    assert paths.count("/api/i18n/locales") == 1
    assert paths.count("/api/product-blurbs") == 3  # fr-CH read as fr, every time: nothing cached
