"""The kit's content pieces without a hub: query strings, signatures, the cache, event names, the receiver's checks."""

from __future__ import annotations

import pytest

from baton.content import qs
from baton.content.cache import CachePolicy, ContentCache, tags_of
from baton.content.client import _deep, plural_of
from baton.content.events import event_data, event_type, strapi_event_of
from baton.content.receiver import ReceiverPolicy, WebhookReceiver
from baton.content.signing import WebhookSignatureError, sign, signed_headers, verify
from baton.errors import EventError

NESTED = {
    "filters": {"$or": [{"title": {"$eq": "a b"}}, {"author": {"name": {"$containsi": "Ada&Co"}}}]},
    "populate": {"author": {"fields": ["name"]}},
    "sort": ["title:asc", "id:desc"],
    "pagination": {"page": 2, "pageSize": 10},
    "locale": "fr",
}


def test_query_strings_round_trip_in_canonical_form():
    text = qs.to_query_string(NESTED)
    parsed = qs.parse(text)
    assert parsed == {
        "filters": {"$or": [{"title": {"$eq": "a b"}}, {"author": {"name": {"$containsi": "Ada&Co"}}}]},
        "populate": {"author": {"fields": ["name"]}},
        "sort": ["title:asc", "id:desc"],
        "pagination": {"page": "2", "pageSize": "10"},
        "locale": "fr",
    }
    assert qs.encode(parsed) == qs.encode(NESTED)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a[]=1&a[]=2", {"a": ["1", "2"]}),
        ("a=1&a=2", {"a": ["1", "2"]}),
        ("a[1]=y&a[0]=x", {"a": ["x", "y"]}),
        ("a[b][c]=1&a[b][d]=2", {"a": {"b": {"c": "1", "d": "2"}}}),
        ("sort=title:asc,id", {"sort": "title:asc,id"}),
    ],
)
def test_qs_parsing(text, expected):
    assert qs.parse(text) == expected


@pytest.mark.parametrize("text", ["a[b=1", "a=1&a[b]=2", "a[200]=x", "a" + "[x]" * 13 + "=1"])
def test_malformed_query_strings_are_refused(text):
    with pytest.raises(qs.QueryStringError):
        qs.parse(text)


def test_signatures_verify_reject_tampering_staleness_and_accept_a_rotated_secret():
    body = b'{"event":"entry.publish"}'
    headers = signed_headers("new", body, now=1_000)
    signature, timestamp = headers["X-Webhook-Signature"], headers["X-Webhook-Timestamp"]
    assert signature == sign("new", 1_000, body)
    assert verify(["old", "new"], signature=signature, timestamp=timestamp, body=body, now=1_100) == 1_000
    for secrets, sent_body, now in ((["old"], body, 1_100), (["new"], body + b" ", 1_100), (["new"], body, 1_400)):
        with pytest.raises(WebhookSignatureError):
            verify(secrets, signature=signature, timestamp=timestamp, body=sent_body, now=now)
    with pytest.raises(WebhookSignatureError):
        verify(["new"], signature=None, timestamp=timestamp, body=body, now=1_000)


def test_receiver_accepts_a_signature_once_and_static_tokens_for_a_real_strapi():
    clock = [1_000.0]
    signed = WebhookReceiver(None, ReceiverPolicy(secrets=("s",)), clock=lambda: clock[0])  # type: ignore[arg-type]
    body = b"{}"
    headers = signed_headers("s", body, now=1_000)
    signed.authenticate(headers, body)
    with pytest.raises(WebhookSignatureError, match="replay"):
        signed.authenticate(headers, body)
    strapi = WebhookReceiver(None, ReceiverPolicy(tokens=("tok",)))  # type: ignore[arg-type]
    strapi.authenticate({"authorization": "Bearer tok"}, body)
    with pytest.raises(WebhookSignatureError):
        strapi.authenticate({"authorization": "Bearer nope"}, body)
    assert signed.event_id({"x-webhook-id": "d1"}, b"a") == signed.event_id({"x-webhook-id": "d1"}, b"b")
    assert signed.event_id({}, b"a") != signed.event_id({}, b"b")


@pytest.mark.parametrize(
    ("strapi", "cloud"),
    [
        ("entry.create", "shop.content.entry.created.v1"),
        ("entry.update", "shop.content.entry.updated.v1"),
        ("entry.delete", "shop.content.entry.deleted.v1"),
        ("entry.publish", "shop.content.entry.published.v1"),
        ("entry.unpublish", "shop.content.entry.unpublished.v1"),
        ("media.create", "shop.content.media.created.v1"),
        ("media.update", "shop.content.media.updated.v1"),
        ("media.delete", "shop.content.media.deleted.v1"),
    ],
)
def test_strapi_events_map_to_cloudevent_types_and_back(strapi, cloud):
    assert event_type(strapi) == cloud
    assert strapi_event_of(cloud) == strapi


def test_event_data_keeps_strapi_names():
    payload = {"event": "entry.publish", "createdAt": "t", "model": "article", "uid": "api::article.article",
               "entry": {"documentId": "d", "locale": "fr", "title": "x"}}  # fmt: skip
    assert event_data(payload) == {
        "event": "entry.publish", "createdAt": "t", "model": "article", "uid": "api::article.article",
        "documentId": "d", "locale": "fr", "entry": {"documentId": "d", "locale": "fr", "title": "x"},
    }  # fmt: skip
    with pytest.raises(EventError):
        event_type("review-workflows.updateEntryStage")
    with pytest.raises(EventError):
        event_data({"event": "entry.create"})


def test_cache_serves_within_ttl_invalidates_by_tag_and_evicts_lru():
    now = [0.0]
    cache = ContentCache(CachePolicy(ttl=10, stale_if_error=5, max_entries=2), clock=lambda: now[0])
    body = {"data": [{"documentId": "d1", "author": {"documentId": "a1"}}]}
    cache.store("k1", body, etag='"e"', tags=tags_of("articles", body))
    cache.store("k2", {"data": []}, etag=None, tags=tags_of("authors", {"data": []}))
    answer = cache.lookup("k1")
    assert answer is not None
    assert cache.is_fresh(answer)
    now[0] = 12
    assert not cache.is_fresh(answer)
    assert cache.is_usable_stale(answer)
    assert cache.invalidate({"doc:a1"}) == 1  # a populated author's change drops the article answer
    assert cache.lookup("k1") is None
    cache.store("k3", {}, etag=None, tags=frozenset())
    cache.store("k4", {}, etag=None, tags=frozenset())
    assert len(cache) == 2
    assert cache.lookup("k2") is None  # least recently used


def test_plural_and_deep_filter_detection():
    assert [plural_of(m) for m in ("product-blurb", "category", "day", "box")] == [
        "product-blurbs", "categories", "days", "boxes",
    ]  # fmt: skip
    assert not _deep({"productId": {"$eq": "p"}})
    assert not _deep({"$or": [{"a": {"$eq": 1}}]})
    assert _deep({"author": {"name": {"$eq": "Ada"}}})
    assert _deep({"$or": [{"author": {"name": {"$eq": "Ada"}}}]})
