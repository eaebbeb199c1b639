"""The route table: prefixes on segment boundaries, API versions, header/cookie routes, methods, weights."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from baton.gateway.config import parse_config
from baton.gateway.routing import MethodNotAllowed, Route, RouteTable
from baton.gateway.splitting import WeightedPicker


def table(*routes):
    config = parse_config({"routes": list(routes)})
    return RouteTable([Route(r) for r in config.routes])


ROUTES = table(
    {"name": "catalog-v1", "prefix": "/catalog", "version": "v1", "service": "catalog"},
    {"name": "catalog-v2", "prefix": "/catalog", "version": "v2", "service": "catalog-next"},
    {
        "name": "catalog-v1-canary",
        "prefix": "/catalog",
        "version": "v1",
        "match": {"headers": {"X-Baton-Version": "v2"}},
        "backends": [{"service": "catalog", "version": "v2"}],
    },
    {
        "name": "catalog-v1-beta",
        "prefix": "/catalog",
        "version": "v1",
        "match": {"cookies": {"baton-version": "beta"}},
        "service": "catalog",
    },
    {"name": "orders", "prefix": "/v1/orders", "service": "order", "methods": ["GET", "POST"]},
    {"name": "orders-admin", "prefix": "/v1/orders/admin", "service": "order-admin"},
    {"name": "fallback", "prefix": "/", "service": "web"},
)


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("GET", "/v1/catalog/items", {}, "catalog-v1"),
        ("GET", "/v1/catalog", {}, "catalog-v1"),
        ("GET", "/v2/catalog/items/3", {}, "catalog-v2"),
        ("GET", "/v1/catalogue", {}, "fallback"),  # a prefix matches whole segments only
        ("GET", "/v1/catalog/items", {b"x-baton-version": b"v2"}, "catalog-v1-canary"),
        ("GET", "/v1/catalog/items", {b"x-baton-version": b"v3"}, "catalog-v1"),
        ("GET", "/v1/catalog/items", {b"cookie": b"a=1; baton-version=beta"}, "catalog-v1-beta"),
        ("GET", "/v1/catalog/items", {b"cookie": b"baton-version=alpha"}, "catalog-v1"),
        ("POST", "/v1/orders/7", {}, "orders"),
        ("DELETE", "/v1/orders/admin/7", {}, "orders-admin"),  # longest prefix wins
        ("GET", "/health", {}, "fallback"),
    ],
)
def test_match(method, path, headers, expected):
    route = ROUTES.match(method, path, headers)
    assert route is not None
    assert route.name == expected


def test_method_not_allowed_lists_the_allowed_ones():
    only = table({"name": "orders", "prefix": "/v1/orders", "service": "order", "methods": ["GET", "POST"]})
    with pytest.raises(MethodNotAllowed) as caught:
        only.match("DELETE", "/v1/orders/1", {})
    assert caught.value.allowed == {"GET", "POST"}


def test_no_route():
    assert table({"prefix": "/a", "service": "a"}).match("GET", "/b", {}) is None


def test_strip_prefix_keeps_the_api_version():
    (route,) = table({"prefix": "/catalog", "version": "v1", "service": "c", "strip_prefix": True}).routes
    assert route.upstream_path(b"/v1/catalog/items?x=1") == b"/v1/items?x=1"
    assert route.upstream_path(b"/v1/catalog") == b"/v1/"


@pytest.mark.parametrize("weights", [[90, 10], [50, 50], [1, 2, 7], [0, 100]])
def test_weighted_split_is_exact_over_a_cycle(weights):
    picker = WeightedPicker(weights)
    total = sum(weights)
    counts = Counter(picker.pick() for _ in range(total * 50))
    assert [counts[i] for i in range(len(weights))] == [w * 50 for w in weights]


def test_ten_percent_split_over_5k_requests_lands_within_two_points():
    picker = WeightedPicker([90, 10])
    picks = [picker.pick() for _ in range(5000)]
    share = picks.count(1) / len(picks)
    assert abs(share - 0.10) <= 0.02
    # Smooth: the canary never gets two requests in a row at 10%.
    assert all(not (a == b == 1) for a, b in itertools.pairwise(picks))


def test_weights_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        WeightedPicker([0, 0])
