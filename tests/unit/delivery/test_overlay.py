"""The gateway's rollout overlay: weighted splits, the secret-guarded preview route, and the acknowledged write."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from baton.delivery import OverlayRouter, TrafficSplit, preview_headers
from baton.errors import DeliveryError
from baton.gateway.config import parse_config
from baton.gateway.overlay import OVERLAY_ACK, Overlay, ServiceOverlay, apply_overlay
from baton.gateway.routing import Route, RouteTable
from baton.testing import wait_until

BASE = parse_config(
    {
        "routes": [
            {"prefix": "/hello", "version": "v1", "service": "hello"},
            {"prefix": "/other", "version": "v1", "service": "other"},
            {"prefix": "/ab", "version": "v1", "service": "hello", "split": {"0.9": 50, "1.0": 50}},
        ]
    }
)
TOKEN = "s3cret-token"


def table(weight: int) -> RouteTable:
    overlay = Overlay(
        generation=3,
        services={"hello": ServiceOverlay("1.0", "1.1", weight, preview=preview_headers(TOKEN))},
    )
    return RouteTable([Route(r) for r in apply_overlay(BASE, overlay).routes])


def versions_picked(route: Route, n: int = 100) -> Counter[str | None]:
    backends = route.config.backends
    return Counter(backends[route.picker.pick()].version for _ in range(n))


@pytest.mark.parametrize(("weight", "expected"), [(0, {"1.0": 100}), (10, {"1.0": 90, "1.1": 10}), (100, {"1.1": 100})])
def test_weights_split_the_service_routes_between_versions(weight, expected) -> None:
    route = table(weight).match("GET", "/v1/hello", {})
    assert route is not None
    assert route.name == "v1-hello"
    assert dict(versions_picked(route)) == expected


def test_other_services_and_pinned_routes_are_untouched() -> None:
    routes = table(10)
    other = routes.match("GET", "/v1/other", {})
    assert other is not None
    assert [b.version for b in other.config.backends] == [None]
    ab = routes.match("GET", "/v1/ab", {})
    # The user's own A/B split: the 0.9 share is theirs to keep; the stable (1.0) share is what the release splits.
    assert ab is not None
    assert [(b.version, b.weight) for b in ab.config.backends] == [
        ("0.9", 50 * 100),
        ("1.0", 50 * 90),
        ("1.1", 50 * 10),
    ]


def test_preview_route_needs_the_secret_token() -> None:
    routes = table(0)
    tester = {k.encode(): v.encode() for k, v in preview_headers(TOKEN).items()}
    forced = routes.match("GET", "/v1/hello/x", tester)
    assert forced is not None
    assert [b.version for b in forced.config.backends] == ["1.1"]
    outsider = routes.match("GET", "/v1/hello/x", {b"x-baton-version": b"canary"})
    guesser = routes.match("GET", "/v1/hello/x", {b"x-baton-version": b"canary", b"x-baton-preview": b"guess"})
    for route in (outsider, guesser):
        assert route is not None
        assert route.name == "v1-hello"
        assert dict(versions_picked(route)) == {"1.0": 100}
    assert TOKEN not in forced.name  # the secret never becomes a metrics label


def test_no_overlay_means_the_users_table() -> None:
    assert apply_overlay(BASE, None) is BASE
    assert apply_overlay(BASE, Overlay()) is BASE


async def test_router_waits_for_the_gateway_acknowledgement(tmp_path: Path) -> None:
    router = OverlayRouter(tmp_path, timeout=5.0)

    async def gateway() -> None:
        # What OverlayGateway does after a reload: acknowledge the generation it now serves.
        await wait_until(router.path.exists, timeout=5)
        generation = json.loads(router.path.read_text())["generation"]
        (tmp_path / OVERLAY_ACK).write_text(json.dumps({"generation": generation}))

    acking = asyncio.create_task(gateway())
    await router.route("hello", TrafficSplit("1.0", "1.1", 5, preview=preview_headers(TOKEN)))
    await acking
    written = json.loads(router.path.read_text())
    assert written["services"]["hello"] == {
        "stable": "1.0",
        "canary": "1.1",
        "weight": 5,
        "preview": preview_headers(TOKEN),
    }
    assert router.path.stat().st_mode & 0o777 == 0o600  # the tester token is in it
    assert router.acknowledged() == written["generation"]


async def test_router_reports_a_gateway_that_never_applies(tmp_path: Path) -> None:
    router = OverlayRouter(tmp_path, timeout=0.2)
    with pytest.raises(DeliveryError, match="did not apply"):
        await router.route("hello", TrafficSplit("1.0", "1.1", 5))
    await OverlayRouter(tmp_path, wait=False).route("hello", None)
    assert "hello" not in json.loads(router.path.read_text())["services"]


async def test_a_weight_is_on_disk_before_the_router_first_yields(tmp_path: Path) -> None:
    # The runner decides a weight synchronously and the API shows it at the next turn of the loop; had the router
    # yielded before writing (it used to write in a thread), a kill -9 in between could lose a weight shown as set.
    router = OverlayRouter(tmp_path, timeout=5.0)
    routing = router.route("hello", TrafficSplit("1.0", "1.1", 20))
    routing.send(None)  # up to its first suspension: waiting for the gateway's acknowledgement
    try:
        assert json.loads(router.path.read_text())["services"]["hello"]["weight"] == 20
    finally:
        routing.close()
