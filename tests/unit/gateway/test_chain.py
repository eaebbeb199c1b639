"""Compiled policy chains answer exactly what walking the policies answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from baton.gateway.config import ValidationConfig, parse_config
from baton.gateway.policies.allowlist import IpAllowlist
from baton.gateway.policies.authz import Authorize
from baton.gateway.policies.base import Principal, RequestInfo, Verdict, run_chain
from baton.gateway.policies.chain import compile_chain
from baton.gateway.policies.validation import Validate
from baton.gateway.responses import Rejection, problem

DENY = problem(403, "no")


class Deny:
    name = "deny"

    def check(self, request: RequestInfo) -> Verdict:
        return DENY


class Later:
    """Answers with an awaitable that lets the request on, and counts its calls."""

    name = "later"

    def __init__(self) -> None:
        self.calls = 0

    def check(self, request: RequestInfo) -> asyncio.Future[Verdict]:
        self.calls += 1
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def test_allowlist_inline_matches_the_policy_for_hits_and_misses() -> None:
    policy = IpAllowlist(["10.0.0.0/8"])
    chain = compile_chain([policy])
    for ip in ("10.1.2.3", "192.168.0.1", "10.1.2.3", "not an address", "::ffff:10.0.0.1"):
        request = RequestInfo(client_ip=ip)
        assert chain(request) is run_chain([policy], request)
    assert chain(RequestInfo(client_ip="192.168.0.1")) is policy._reject


def test_declared_body_over_the_limit_is_refused_inline() -> None:
    chain = compile_chain([Validate(ValidationConfig(max_body=10), max_body=1 << 20)])
    over = chain(RequestInfo(content_length=11, has_body=True))
    assert isinstance(over, Rejection)
    assert over.status == 413
    assert chain(RequestInfo(content_length=10, has_body=True)) is None
    assert chain(RequestInfo()) is None


def test_noop_steps_are_left_out_and_an_empty_chain_admits() -> None:
    everyone = IpAllowlist(["0.0.0.0/0", "::/0"])
    assert compile_chain([everyone])(RequestInfo(client_ip="203.0.113.9")) is None
    assert compile_chain([])(RequestInfo()) is None
    only_v4 = compile_chain([IpAllowlist(["0.0.0.0/0"])])
    assert only_v4(RequestInfo(client_ip="2001:db8::1")) is not None  # not a no-op: IPv6 callers are refused


def test_rejection_stops_the_chain_and_awaitables_continue_asynchronously() -> None:
    later = Later()
    assert compile_chain([Deny(), later])(RequestInfo()) is DENY
    assert later.calls == 0

    async def settle() -> Verdict:
        pending = compile_chain([later, Deny()])(RequestInfo())
        assert not isinstance(pending, Rejection)
        assert pending is not None
        return await pending  # type: ignore[misc]

    assert asyncio.run(settle()) is DENY
    assert later.calls == 1


@pytest.mark.parametrize(
    "route",
    [
        {"scopes": ["a:read"]},
        {"scopes": ["a:read", "b:write"], "private": True},
        {"scopes": ["a:read"], "roles": ["ops"]},  # not inlined: the policy's own check
        {"private": True, "consumers": ["alice"]},
    ],
)
def test_authorization_inline_matches_the_policy(route: dict[str, Any]) -> None:
    policy = Authorize(parse_config({"routes": [{"prefix": "/x", "service": "x", **route}]}).routes[0])
    chain = compile_chain([policy])
    callers = [
        None,
        Principal(consumer="alice"),
        Principal(consumer="bob", scopes=frozenset({"a:read"})),
        Principal(consumer="carol", scopes=frozenset({"a:read", "b:write"}), roles=frozenset({"ops"})),
    ]
    verdicts = []
    for principal in callers:
        request = RequestInfo()
        request.principal = principal
        verdicts.append(chain(request))
        assert verdicts[-1] is policy.check(request)
    assert None in verdicts
    assert any(isinstance(v, Rejection) for v in verdicts)
