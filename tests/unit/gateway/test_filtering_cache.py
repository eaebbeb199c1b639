"""Response filtering, error sanitising and the response cache."""

from __future__ import annotations

import orjson
import pytest

from baton.gateway.cache import ResponseCache, etag_matches
from baton.gateway.config import CacheConfig
from baton.gateway.filtering import SEARCH_FIRST, ResponseFilter, sanitize_error
from baton.gateway.policies.base import Principal, RequestInfo
from baton.resilience.clock import ManualClock


def test_internal_fields_are_stripped_at_any_depth():
    body = orjson.dumps({"id": 1, "cost": 3, "items": [{"sku": "a", "cost": 1}], "meta": {"traceback": "..."}})
    out = orjson.loads(ResponseFilter(frozenset({"cost"})).apply(b"application/json", body))
    assert out == {"id": 1, "items": [{"sku": "a"}], "meta": {}}


def test_answers_without_a_filtered_key_pass_unparsed_and_escaped_keys_are_still_caught():
    response_filter = ResponseFilter(frozenset({"cost"}))
    clean = b'{"id": 1, "name": "pen"}'
    assert response_filter.apply(b"application/json", clean) is clean
    escaped = b'{"id": 1, "\\u0063ost": 3}'  # "cost" spelled with an escape
    assert orjson.loads(response_filter.apply(b"application/json", escaped)) == {"id": 1}


def test_long_and_short_answers_are_stripped_alike_and_untouched_ones_keep_their_bytes():
    response_filter = ResponseFilter(frozenset({"cost"}))
    filler = "x" * SEARCH_FIRST
    long_clean = orjson.dumps({"id": 1, "note": filler})
    assert response_filter.apply(b"application/json", long_clean) is long_clean  # searched, never parsed
    long_dirty = orjson.dumps({"id": 1, "note": filler, "items": [{"cost": 2}]})
    assert orjson.loads(response_filter.apply(b"application/json", long_dirty)) == {
        "id": 1,
        "note": filler,
        "items": [{}],
    }
    # Short: parsed at once; an escape that spells no filtered name leaves the upstream's bytes as they were.
    short = b'{"id": 1, "name": "caf\\u00e9"}'
    assert response_filter.apply(b"application/json", short) is short
    assert response_filter.apply(b"application/json", b'{"id": 1, "cost": 3}') == b'{"id":1}'
    # strip: the same for a body whose type the caller already knows is JSON.
    assert response_filter.strip(b'{"id": 1, "cost": 3}') == b'{"id":1}'
    assert response_filter.strip(short) is short
    assert response_filter.strip(b"not json") == b"not json"


def test_non_json_answers_pass_unchanged():
    assert ResponseFilter(frozenset({"cost"})).apply(b"text/plain", b'{"cost": 1}') == b'{"cost": 1}'


@pytest.mark.parametrize(
    ("ctype", "body", "keeps"),
    [
        (b"application/problem+json", b'{"title": "Boom", "status": 500, "traceback": "File \\"x.py\\""}', b"Boom"),
        (b"text/plain", b'Traceback (most recent call last):\n  File "app.py", line 3', b"correlation_id"),
        (b"application/json", b'{"detail": "Traceback (most recent call last): ..."}', b"correlation_id"),
        (b"text/html", b"<h1>Internal Server Error</h1>", b"correlation_id"),
    ],
)
def test_error_answers_never_carry_stack_traces(ctype, body, keeps):
    out_type, out = sanitize_error(500, ctype, body, "cid-1")
    assert b"Traceback" not in out
    assert b"File" not in out
    assert keeps in out
    assert out_type.endswith(b"json")


def test_cache_round_trip_and_expiry():
    clock = ManualClock()
    cache = ResponseCache(CacheConfig(ttl=10), clock=clock)
    request = RequestInfo(headers={b"accept": b"application/json"})
    key = cache.key(request, b"/v1/items")
    entry = cache.put(key, 200, [(b"content-type", b"application/json")], b"[1]")
    assert entry is not None
    assert cache.get(key) is entry
    assert etag_matches(entry.etag, entry.etag)
    assert etag_matches(b'W/"x", ' + entry.etag, entry.etag)
    assert not etag_matches(b'"other"', entry.etag)
    clock.advance(10.1)
    assert cache.get(key) is None


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (500, []),
        (200, [(b"cache-control", b"no-store")]),
        (200, [(b"cache-control", b"private, max-age=5")]),
        (200, [(b"set-cookie", b"a=1")]),
    ],
)
def test_uncacheable_answers_are_not_stored(status, headers):
    cache = ResponseCache(CacheConfig())
    assert cache.put("k", status, headers, b"x") is None
    assert len(cache) == 0


def test_consumers_do_not_share_entries_unless_the_route_says_so():
    private, shared = ResponseCache(CacheConfig()), ResponseCache(CacheConfig(shared=True))
    alice, bob = RequestInfo(), RequestInfo()
    alice.principal, bob.principal = Principal("alice"), Principal("bob")
    assert private.key(alice, b"/x") != private.key(bob, b"/x")
    assert shared.key(alice, b"/x") == shared.key(bob, b"/x")


def test_cache_is_bounded():
    cache = ResponseCache(CacheConfig(max_entries=2))
    for i in range(3):
        cache.put(i, 200, [], b"x")
    assert len(cache) == 2
    assert cache.get(0) is None
