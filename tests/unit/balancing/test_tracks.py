"""Canary weights at the caller: instances carrying a rollout's per-version weight are picked in that proportion."""

from __future__ import annotations

import random
from collections import Counter

from baton.balancing import RoundRobin, balancer_from_name
from baton.balancing.tracks import WEIGHT, TrackWeighted, version_shares
from baton.discovery.base import Instance


def pool(stable: int, canary: int, *, weights: tuple[int, int] | None) -> list[Instance]:
    def meta(weight: int | None) -> dict[str, str]:
        return {WEIGHT: str(weight)} if weight is not None else {}

    ws, wc = weights if weights is not None else (None, None)
    return [
        *(Instance("pay", f"pay-{i}", "127.0.0.1", 9000 + i, version="1.0", metadata=meta(ws)) for i in range(stable)),
        *(Instance("pay", f"pay-c{i}", "127.0.0.1", 9100 + i, version="1.1", metadata=meta(wc)) for i in range(canary)),
    ]


def share_of_canary(balancer: TrackWeighted, instances: list[Instance], picks: int = 10_000) -> float:
    seen = Counter(balancer.pick(instances).version for _ in range(picks))
    return seen["1.1"] / picks


def test_a_10_percent_step_sends_a_tenth_of_the_calls_to_the_canary_whatever_the_instance_counts() -> None:
    balancer = TrackWeighted(RoundRobin(), rng=random.Random(7).random)
    # Two canary instances beside two stable ones would get half the calls by instance count; the weight says 10%.
    assert abs(share_of_canary(balancer, pool(2, 2, weights=(90, 10))) - 0.10) < 0.015


def test_inside_a_version_the_inner_balancer_spreads_the_calls() -> None:
    balancer = TrackWeighted(RoundRobin(), rng=random.Random(3).random)
    instances = pool(2, 2, weights=(50, 50))
    seen = Counter(balancer.pick(instances).id for _ in range(4_000))
    assert set(seen) == {"pay-0", "pay-1", "pay-c0", "pay-c1"}
    assert max(seen.values()) / min(seen.values()) < 1.2


def test_without_weights_it_is_the_inner_balancer() -> None:
    instances = pool(2, 2, weights=None)
    weighted, plain = TrackWeighted(RoundRobin()), RoundRobin()
    assert [weighted.pick(instances).id for _ in range(8)] == [plain.pick(instances).id for _ in range(8)]
    assert version_shares(instances) is None


def test_weight_zero_and_unweighted_versions_get_nothing() -> None:
    balancer = balancer_from_name("peak_ewma", rng=random.Random(1))
    assert share_of_canary(balancer, pool(2, 2, weights=(100, 0)), picks=2_000) == 0.0  # rolled back: weight 0
    # A stable instance restarted mid-canary registers with the split too; one that (still) lacks it is no reason
    # to route outside the split: its version counts as weighted by its siblings.
    mixed = pool(2, 1, weights=(80, 20))
    mixed[0] = Instance("pay", "pay-0", "127.0.0.1", 9000, version="1.0")
    assert version_shares(mixed) == {"1.0": 80.0, "1.1": 20.0}
    assert abs(share_of_canary(balancer, mixed, picks=4_000) - 0.20) < 0.03


def test_outcomes_reach_the_inner_balancer_and_a_new_candidate_list_is_split_afresh() -> None:
    class Recording(RoundRobin):
        def __init__(self) -> None:
            super().__init__()
            self.outcomes: list[tuple[str, float, bool]] = []

        def done(self, instance: Instance, *, latency: float, failed: bool) -> None:
            self.outcomes.append((instance.id, latency, failed))

    inner = Recording()
    balancer = TrackWeighted(inner, rng=random.Random(5).random)
    unweighted = pool(1, 1, weights=None)
    assert {balancer.pick(unweighted).version for _ in range(4)} == {"1.0", "1.1"}
    balancer.done(unweighted[1], latency=0.25, failed=True)
    assert inner.outcomes == [("pay-c0", 0.25, True)]
    # The same instances with a rollout's weights (discovery hands a new list): the split applies at once.
    assert {balancer.pick(pool(1, 1, weights=(100, 0))).version for _ in range(50)} == {"1.0"}
