"""One split decides each request's version at the edge: the overlay's weight, never the overlay's *and* discovery's.

The gateway picks a route's backend with the overlay's weighted split, then an instance of that backend's version
through a balancer that also honours discovery's east-west split (:class:`~baton.balancing.tracks.TrackWeighted`).
If a stable backend's candidates were not filtered by version, a 10 % step would send the canary 10 % + 90 % × 10 %
≈ 19 % of the requests. These drive the gateway's own selection (route table, weighted picker, upstream targets,
balancer) over a thousand requests and count the versions picked; every piece is deterministic, so the counts are
exact.
"""

from __future__ import annotations

from collections import Counter

import pytest

from baton.balancing.tracks import WEIGHT
from baton.discovery.base import Instance
from baton.discovery.static import StaticRegistry
from baton.gateway.config import parse_config
from baton.gateway.overlay import Overlay, ServiceOverlay, apply_overlay
from baton.gateway.routing import Route, RouteTable
from baton.gateway.upstreams import Upstreams

BASE = parse_config({"routes": [{"prefix": "/hello", "version": "v1", "service": "hello"}]})
REQUESTS = 1000


def hello(index: int, version: str, weight: int | None) -> Instance:
    metadata = {WEIGHT: str(weight)} if weight is not None else {}
    return Instance("hello", f"hello-{index}", "127.0.0.1", 9000 + index, version=version, metadata=metadata)


def instances(split: dict[str, int] | None) -> list[Instance]:
    """Two stable (1.0) and two canary (1.1) replicas, carrying discovery's split as the NATS KV watch gives it."""
    share = (lambda v: split.get(v, 0)) if split is not None else (lambda v: None)
    return [hello(i, v, share(v)) for i, v in enumerate(["1.0", "1.0", "1.1", "1.1"])]


async def versions_served(overlay: Overlay | None, split: dict[str, int] | None) -> Counter[str]:
    upstreams = Upstreams(registry=StaticRegistry(instances(split)), balancer="round_robin")
    table = RouteTable([Route(r) for r in apply_overlay(BASE, overlay).routes])
    route = table.match("GET", "/v1/hello", {})
    assert route is not None
    route.targets = [upstreams.target(b) for b in route.config.backends]  # as gateway.build does
    await upstreams.start()
    try:
        served: Counter[str] = Counter()
        for _ in range(REQUESTS):
            # The exchange's dispatch: the route's weighted split picks a backend, its balancer an instance.
            target = route.targets[route.picker.pick()] if len(route.targets) > 1 else route.targets[0]
            instance = upstreams.pick(target)
            assert instance is not None
            served[instance.version] += 1
        return served
    finally:
        await upstreams.aclose()


def canary_at(weight: int) -> Overlay:
    return Overlay(generation=1, services={"hello": ServiceOverlay("1.0", "1.1", weight)})


@pytest.mark.parametrize(
    ("overlay", "split", "canary"),
    [
        (canary_at(10), {"1.0": 90, "1.1": 10}, 100),  # both splits set: the overlay alone decides, not ~190
        (canary_at(10), None, 100),
        (canary_at(50), {"1.0": 50, "1.1": 50}, 500),
        (canary_at(0), None, 0),  # pinned before the new version starts: its instances get nothing
        (None, {"1.0": 100, "1.1": 0}, 0),  # no overlay yet, discovery's split already there: still nothing
        (None, None, 500),  # neither: by instance count, which is why the pin must come before the launch
    ],
    ids=["10pct-both", "10pct-overlay", "50pct-both", "pinned", "east-west-zero", "unpinned"],
)
async def test_the_canary_gets_its_step_weight_of_the_gateways_requests(overlay, split, canary) -> None:
    served = await versions_served(overlay, split)
    assert served["1.1"] == canary
    assert served["1.0"] == REQUESTS - canary
