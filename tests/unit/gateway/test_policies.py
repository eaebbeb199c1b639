"""Every policy's accept and reject paths, with the exact status and headers."""

from __future__ import annotations

import asyncio
import hashlib
import time

import jwt
import pytest

from baton.gateway.config import (
    ApiKeyConfig,
    AuthConfig,
    IssuerConfig,
    QuotaConfig,
    RateLimitConfig,
    RateSpec,
    ValidationConfig,
    parse_config,
)
from baton.gateway.policies.allowlist import AddressSet, IpAllowlist, client_address
from baton.gateway.policies.auth import Authenticate, Authenticator
from baton.gateway.policies.authz import Authorize
from baton.gateway.policies.base import Principal, RequestInfo, run_chain
from baton.gateway.policies.openapi import OpenApiSchemas
from baton.gateway.policies.quota import Quota, SqliteQuotaStore, utc_day
from baton.gateway.policies.ratelimit import RateLimit, TokenBuckets
from baton.gateway.policies.validation import Validate, json_depth
from baton.gateway.responses import HeaderBlock, Rejection
from baton.resilience.clock import ManualClock

SECRET = "unit-test-secret-0123456789abcdef01234567"
ISSUER = IssuerConfig(name="shop", issuer="https://id.shop", audience=("gateway",), secret=SECRET)


def token(**overrides):
    now = int(time.time())
    claims = {"iss": "https://id.shop", "aud": "gateway", "sub": "alice", "exp": now + 300, "scope": "a:read b:write"}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def bearer(tok):
    return {b"authorization": f"Bearer {tok}".encode()}


# -- allowlist and client address ------------------------------------------------------------------------


TRUSTED = AddressSet(["10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "xff", "client"),
    [
        ("203.0.113.9", b"1.2.3.4", "203.0.113.9"),  # untrusted peer: its XFF claim is ignored
        ("10.0.0.5", b"198.51.100.7", "198.51.100.7"),  # trusted proxy: believe the entry it added
        ("10.0.0.5", b"127.0.0.1, 198.51.100.7", "198.51.100.7"),  # spoofed left entry is not the client
        ("10.0.0.5", b"198.51.100.7, 10.0.0.9", "198.51.100.7"),  # a chain of trusted proxies is skipped
        ("10.0.0.5", b"garbage", "10.0.0.5"),
        ("10.0.0.5", None, "10.0.0.5"),
    ],
)
def test_client_address(peer, xff, client):
    assert client_address(peer, xff, TRUSTED) == client


def test_allowlist_accepts_inside_and_rejects_outside():
    policy = IpAllowlist(["192.168.0.0/16", "::1/128"])
    assert policy.check(RequestInfo(client_ip="192.168.4.2")) is None
    assert policy.check(RequestInfo(client_ip="::1")) is None
    rejected = policy.check(RequestInfo(client_ip="8.8.8.8"))
    assert isinstance(rejected, Rejection)
    assert rejected.status == 403


# -- authentication -----------------------------------------------------------------------------------------


def authenticate(required=True, **kwargs):
    keys = [ApiKeyConfig(consumer="billing-bot", key="k-123", scopes=frozenset({"a:read"}))]
    return Authenticate(Authenticator([ISSUER], keys, **kwargs), AuthConfig(required=required))


def test_valid_token_sets_the_principal():
    request = RequestInfo(headers=bearer(token()))
    assert authenticate().check(request) is None
    assert request.principal is not None
    assert request.principal.consumer == "alice"
    assert request.principal.scopes == {"a:read", "b:write"}


def test_verified_tokens_are_cached_until_expiry(monkeypatch):
    policy = authenticate()
    tok = token()
    assert policy.check(RequestInfo(headers=bearer(tok))) is None
    calls = []
    real_decode = jwt.decode

    def counting_decode(*args, **kwargs):
        calls.append(1)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert policy.check(RequestInfo(headers=bearer(tok))) is None  # served from the cache: no decode
    assert calls == []
    later = RequestInfo(headers=bearer(tok), now=time.time() + 400)  # past exp: the cache lets go
    assert policy.check(later) is None  # (the signature is still valid right now, so it verifies again)
    assert calls != []


# Tokens are minted when the test runs, not at collection: a long suite would otherwise expire them first.
@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda: token(exp=int(time.time()) - 120), "token expired"),
        (lambda: token(aud="someone-else"), "token rejected"),
        (lambda: token(iss="https://evil"), "issuer not accepted"),
        (lambda: token(exp=None), "token rejected"),
        (
            lambda: jwt.encode({"iss": "https://id.shop", "aud": "gateway", "exp": 2**31}, "other-secret" * 4),
            "rejected",
        ),
        (
            lambda: jwt.encode({"iss": "https://id.shop", "aud": "gateway", "exp": 2**31}, None, algorithm="none"),
            "rejected",
        ),
        (lambda: "not.a.token", "malformed"),
    ],
)
def test_bad_tokens_get_401_with_a_bearer_challenge(make, detail):
    rejected = authenticate().check(RequestInfo(headers=bearer(make())))
    assert isinstance(rejected, Rejection)
    assert rejected.status == 401
    assert detail in rejected.detail
    challenge = dict(rejected.headers)[b"www-authenticate"]
    assert challenge.startswith(b'Bearer realm="baton", error="invalid_token"')


def test_missing_credentials():
    rejected = authenticate().check(RequestInfo())
    assert isinstance(rejected, Rejection)
    assert (rejected.status, dict(rejected.headers)[b"www-authenticate"]) == (401, b'Bearer realm="baton"')
    assert authenticate(required=False).check(RequestInfo()) is None


def test_api_keys():
    request = RequestInfo(headers={b"x-api-key": b"k-123"})
    assert authenticate().check(request) is None
    assert request.principal is not None
    assert request.principal.consumer == "billing-bot"
    rejected = authenticate().check(RequestInfo(headers={b"x-api-key": b"wrong"}))
    assert isinstance(rejected, Rejection)
    assert rejected.status == 401


def test_api_keys_may_be_configured_as_digests():
    digest = hashlib.sha256(b"secret-key").hexdigest()
    policy = Authenticate(Authenticator([], [ApiKeyConfig(consumer="c", key_sha256=digest)]), AuthConfig())
    assert policy.check(RequestInfo(headers={b"x-api-key": b"secret-key"})) is None


# -- authorization --------------------------------------------------------------------------------------------


def authorize(**route):
    config = parse_config({"routes": [{"prefix": "/x", "service": "x", **route}]})
    return Authorize(config.routes[0])


def with_principal(**kwargs):
    request = RequestInfo()
    request.principal = Principal(consumer=kwargs.pop("consumer", "alice"), **kwargs)
    return request


@pytest.mark.parametrize(
    ("route", "principal", "status"),
    [
        ({"scopes": ["a:read"]}, {"scopes": frozenset({"a:read"})}, None),
        ({"scopes": ["a:read", "b:write"]}, {"scopes": frozenset({"a:read"})}, 403),
        ({"roles": ["admin", "ops"]}, {"roles": frozenset({"ops"})}, None),
        ({"roles": ["admin"]}, {"roles": frozenset({"user"})}, 403),
        ({"private": True}, {"scopes": frozenset({"anything"})}, 403),  # default deny
        ({"private": True, "roles": ["ops"]}, {"roles": frozenset({"ops"})}, None),
        ({"private": True, "consumers": ["alice"]}, {}, None),
        ({"consumers": ["bob"]}, {}, 403),
    ],
)
def test_authorization_table(route, principal, status):
    verdict = authorize(**route).check(with_principal(**principal))
    assert (verdict.status if verdict else None) == status


def test_insufficient_scope_names_the_scopes():
    verdict = authorize(scopes=["a:read", "b:write"]).check(with_principal(scopes=frozenset()))
    assert verdict is not None
    assert dict(verdict.headers)[b"www-authenticate"] == (
        b'Bearer realm="baton", error="insufficient_scope", scope="a:read b:write"'
    )


def test_anonymous_caller_on_a_private_route_gets_401():
    verdict = authorize(private=True, roles=["ops"]).check(RequestInfo())
    assert verdict is not None
    assert verdict.status == 401


# -- rate limits and quotas ---------------------------------------------------------------------------------


def test_token_bucket_refuses_then_refills():
    clock = ManualClock()
    policy = RateLimit("r", RateLimitConfig(ip=RateSpec(rate=2.0, burst=2)), TokenBuckets(clock=clock))
    request = RequestInfo(client_ip="1.1.1.1")
    assert policy.check(request) is None
    assert policy.check(request) is None
    refused = policy.check(request)
    assert isinstance(refused, Rejection)
    headers = dict(refused.headers)
    assert refused.status == 429
    assert headers[b"retry-after"] == b"1"
    assert headers[b"ratelimit-limit"] == b"2"
    assert headers[b"ratelimit-remaining"] == b"0"
    assert policy.check(RequestInfo(client_ip="2.2.2.2")) is None  # per IP: another address has its own bucket
    clock.advance(0.5)
    assert policy.check(request) is None


def test_consumer_bucket_exposes_ratelimit_headers_and_keys_by_consumer():
    clock = ManualClock()
    policy = RateLimit("r", RateLimitConfig(consumer=RateSpec(rate=1.0, burst=3)), TokenBuckets(clock=clock))
    first = with_principal(consumer="alice")
    assert policy.check(first) is None
    assert dict(first.response_headers or []) == {
        b"ratelimit-limit": b"3",
        b"ratelimit-remaining": b"2",
        b"ratelimit-reset": b"1",
    }
    for _ in range(2):
        assert policy.check(with_principal(consumer="alice")) is None
    assert isinstance(policy.check(with_principal(consumer="alice")), Rejection)
    assert policy.check(with_principal(consumer="bob")) is None


def test_memoised_ratelimit_headers_carry_their_rendered_block():
    policy = RateLimit("r", RateLimitConfig(consumer=RateSpec(rate=1.0, burst=3)), TokenBuckets(clock=ManualClock()))
    request = with_principal(consumer="alice")
    assert policy.check(request) is None
    headers = request.response_headers
    assert isinstance(headers, HeaderBlock)
    # The block an answer's head takes whole is exactly the pairs, formatted in order.
    assert headers.block == b"ratelimit-limit: 3\r\nratelimit-remaining: 2\r\nratelimit-reset: 1\r\n"
    assert HeaderBlock([(b"a", b"1"), (b"b", b"2")]) == ((b"a", b"1"), (b"b", b"2"))


def test_route_bucket_is_shared_by_everyone():
    policy = RateLimit("r", RateLimitConfig(route=RateSpec(rate=0.001, burst=1)), TokenBuckets(clock=ManualClock()))
    assert policy.check(RequestInfo(client_ip="1.1.1.1")) is None
    refused = policy.check(RequestInfo(client_ip="2.2.2.2"))
    assert isinstance(refused, Rejection)
    assert "route" in refused.detail


async def test_quota_persists_across_store_instances(tmp_path):
    path = tmp_path / "quotas.db"
    store = SqliteQuotaStore(path)
    policy = Quota("orders", QuotaConfig(per_day=2), store)
    assert policy.check(with_principal(consumer="alice")) is None
    assert policy.check(with_principal(consumer="alice")) is None
    await store.aclose()
    reopened = SqliteQuotaStore(path)
    again = Quota("orders", QuotaConfig(per_day=2), reopened)
    refused = again.check(with_principal(consumer="alice"))
    assert isinstance(refused, Rejection)
    assert refused.status == 429
    retry_after = int(dict(refused.headers)[b"retry-after"])
    assert 0 < retry_after <= 86_400
    assert again.check(with_principal(consumer="bob")) is None
    tomorrow = with_principal(consumer="alice")
    tomorrow.now = (utc_day(time.time()) + 1) * 86_400 + 5
    assert again.check(tomorrow) is None
    await reopened.aclose()


async def test_chain_goes_async_only_when_a_policy_needs_io():
    class Slow:
        name = "slow"

        async def _later(self):
            await asyncio.sleep(0)
            return None

        def check(self, request):
            return self._later()

    class Deny:
        name = "deny"

        def check(self, request):
            return Rejection(418, "no")

    assert run_chain([IpAllowlist(["0.0.0.0/0"])], RequestInfo()) is None
    pending = run_chain([Slow(), Deny()], RequestInfo())
    assert not isinstance(pending, Rejection | None)
    verdict = await pending
    assert verdict is not None
    assert verdict.status == 418


# -- validation -------------------------------------------------------------------------------------------


def test_declared_body_over_the_limit_is_refused_before_reading_it():
    policy = Validate(ValidationConfig(max_body=100), max_body=10_000)
    refused = policy.check(RequestInfo(method="POST", content_length=101, has_body=True))
    assert refused is not None
    assert (refused.status, refused.close) == (413, True)
    assert policy.check(RequestInfo(method="POST", content_length=100, has_body=True)) is None


def test_content_type_must_be_accepted():
    policy = Validate(ValidationConfig(content_types=("application/json",)), max_body=1000)
    json_request = RequestInfo(headers={b"content-type": b"application/json; charset=utf-8"}, has_body=True)
    assert policy.check(json_request) is None
    refused = policy.check(RequestInfo(headers={b"content-type": b"text/plain"}, has_body=True))
    assert refused is not None
    assert refused.status == 415


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"a": [1, {"b": 2}]}', None),
        (b"[" * 9 + b"]" * 9, 400),
        (b'{"text": "[[[[[[[[[[[[ brackets in a string are not depth"}', None),
        (b"[" * 5000 + b"]" * 5000, 400),
        (b'[[[[[[[[[[ "a": ', 400),
    ],
)
def test_json_depth(body, status):
    policy = Validate(ValidationConfig(json_depth=8), max_body=10**6)
    request = RequestInfo(headers={b"content-type": b"application/json"}, has_body=True, body=body)
    verdict = policy.check_body(request)
    assert (verdict.status if verdict else None) == status


def test_json_depth_counts_levels():
    assert json_depth({"a": [1, {"b": []}]}) == 4
    assert json_depth(5) == 0


OPENAPI = {
    "openapi": "3.1.0",
    "paths": {
        "/v1/items/{item_id}": {
            "put": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}}}
        }
    },
    "components": {
        "schemas": {
            "Item": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 10},
                    "cost": {"type": "number", "x-internal": True},
                },
            }
        }
    },
}


def test_openapi_schema_validation_and_internal_fields():
    schemas = OpenApiSchemas(OPENAPI)
    assert schemas.internal_fields == {"cost"}
    policy = Validate(ValidationConfig(openapi=True), max_body=10**6)
    policy.schemas = schemas

    def put(body):
        return RequestInfo(
            method="PUT",
            path="/v1/items/3",
            headers={b"content-type": b"application/json"},
            has_body=True,
            body=body,
        )

    assert policy.check_body(put(b'{"name": "pen"}')) is None
    refused = policy.check_body(put(b'{"name": 12}'))
    assert refused is not None
    assert refused.status == 400
    assert "name" in refused.detail
    missing = policy.check_body(put(b"{}"))
    assert missing is not None
    assert "required" in missing.detail


async def test_quota_counts_each_utc_day_apart_at_the_boundaries(tmp_path):
    store = SqliteQuotaStore(tmp_path / "quotas.db")
    policy = Quota("orders", QuotaConfig(per_day=2), store)
    day = 20_000 * 86_400

    def at(now: float) -> Rejection | None:
        request = with_principal(consumer="alice")
        request.now = now
        verdict = policy.check(request)
        assert verdict is None or isinstance(verdict, Rejection)
        return verdict

    assert at(day - 0.5) is None  # the last half second of one day: its first request
    assert at(day) is None  # midnight: the next day's first request
    assert at(day + 1) is None
    assert isinstance(at(day + 86_399.5), Rejection)  # that day's two are used, to its last second
    assert at(day - 0.25) is None  # a clock that moved back counts on the earlier day (its second request)
    assert isinstance(at(day - 0.1), Rejection)
    assert at(day + 86_400) is None
    await store.aclose()


def test_a_principal_carries_its_upstream_consumer_line():
    assert Principal(consumer="alice").consumer_line == b"x-baton-consumer: alice\r\n"
    assert Principal(consumer="zo\u00eb\u2713").consumer_line == b"x-baton-consumer: zo\xeb?\r\n"  # latin-1, replaced
    assert Principal(consumer="alice") == Principal(consumer="alice")


def test_a_consumer_with_control_characters_cannot_add_an_upstream_header():
    line = Principal(consumer="mallory\r\nx-baton-service-token: forged\x00\x7f").consumer_line
    assert line == b"x-baton-consumer: mallory??x-baton-service-token: forged??\r\n"
    assert line.count(b"\r\n") == 1
