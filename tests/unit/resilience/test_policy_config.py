"""``policies:`` of baton.yaml: parsing, errors that name the field, binding resolution."""

from __future__ import annotations

import pytest

from baton.errors import ConfigError
from baton.resilience import (
    DEFAULT_POLICY,
    BreakerPolicy,
    Policy,
    Resilience,
    RetryPolicy,
    parse_duration,
    policies_from_mapping,
)

SECTION = {
    "default": "standard",
    "named": {
        "standard": {
            "retry": {"max_attempts": 4, "initial_backoff": "10ms", "max_backoff": "2s"},
            "breaker": {"window_type": "time", "window_size": 10, "wait_in_open": "1m"},
        },
        "payments": {"retry": None, "timeout": {"per_try": "5s", "total": 15}},
    },
    "targets": {"inventory": "standard", "payment:/v1/charges": "payments"},
}


@pytest.mark.parametrize(
    ("raw", "seconds"), [(2, 2.0), (0.5, 0.5), ("250ms", 0.25), ("2s", 2.0), ("1.5m", 90.0), ("3", 3.0)]
)
def test_durations(raw, seconds) -> None:
    assert parse_duration(raw, where="x") == seconds


@pytest.mark.parametrize("raw", ["soon", "5h", True, "-1s"])
def test_bad_durations_name_the_field(raw) -> None:
    with pytest.raises(ConfigError, match=r"policies\.x"):
        parse_duration(raw, where="policies.x")


def test_parse_named_policies_and_layers() -> None:
    policy_set = policies_from_mapping(SECTION)
    standard = policy_set.policies["standard"]
    assert standard.retry == RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=2.0)
    assert standard.breaker == BreakerPolicy(window_type="time", window_size=10, wait_in_open=60.0)
    assert standard.bulkhead == DEFAULT_POLICY.bulkhead  # omitted layer: documented default
    payments = policy_set.policies["payments"]
    assert payments.retry is None
    assert payments.timeout is not None
    assert (payments.timeout.per_try, payments.timeout.total) == (5.0, 15.0)
    assert policy_set.default is standard


def test_resolution_longest_route_prefix_then_service_then_default() -> None:
    resilience = Resilience(policies_from_mapping(SECTION))
    charge = resilience.target("payment", "/v1/charges/9")
    assert (charge.key, charge.policy.name, charge.budget) == ("payment:/v1/charges", "payments", None)
    refund = resilience.target("payment", "/v1/refunds")
    assert (refund.key, refund.policy.name) == ("payment", "standard")  # default policy
    assert resilience.target("inventory", "/v1/stock").key == "inventory"
    # State is per target and reused.
    assert resilience.target("inventory", "/x") is resilience.target("inventory", "/y")
    assert charge.breaker is not refund.breaker


def test_a_single_policy_is_the_default_for_all() -> None:
    none = Policy(name="none", retry=None, breaker=None, bulkhead=None, timeout=None)
    state = Resilience(none).target("anything")
    assert (state.breaker, state.budget, state.bulkhead) == (None, None, None)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"nope": 1}, "unknown key"),
        ({"named": {"p": {"retri": {}}}}, r"policies.named.p: unknown layer"),
        ({"named": {"p": {"retry": {"max_attempt": 2}}}}, r"policies.named.p.retry.max_attempt: unknown option"),
        ({"named": {"p": {"retry": {"max_attempts": 0}}}}, r"policies.named.p.retry: max_attempts"),
        ({"named": {"p": {}}, "targets": {"inventory": "q"}}, r"policies.targets.inventory: unknown policy 'q'"),
        ({"named": {"p": {}}, "targets": {"inventory:v1": "p"}}, "service:/route/prefix"),
        ({"default": "zzz"}, "policies.default"),
    ],
)
def test_errors_name_the_field(section, message) -> None:
    with pytest.raises(ConfigError, match=message):
        policies_from_mapping(section)


def test_empty_section_means_defaults() -> None:
    assert policies_from_mapping(None).default == DEFAULT_POLICY
