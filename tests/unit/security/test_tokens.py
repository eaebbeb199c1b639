"""Service tokens: issuing, the JWKS, local verification and its caches, the client-side provider."""

from __future__ import annotations

import asyncio
import json
import os

import jwt
import pytest

from baton.errors import ConfigError, SecretError, SecurityError
from baton.security.crypto import Keyring, MasterKey
from baton.security.tokens import (
    JwksCache,
    LocalTokenSource,
    ServiceTokenProvider,
    StaticJwksFetcher,
    TokenIssuer,
    TokenVerifier,
    parse_jwks,
)

ISSUER = "https://control.baton.local"


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(ISSUER)


@pytest.fixture
def fetcher(issuer) -> StaticJwksFetcher:
    return StaticJwksFetcher(issuer.jwks)


@pytest.fixture
def verifier(fetcher) -> TokenVerifier:
    return TokenVerifier(ISSUER, fetcher, "inventory")


async def test_issued_token_verifies_and_names_the_calling_service(issuer, verifier):
    token = issuer.issue(sub="order", aud="inventory", scopes=["inventory:reserve"])
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == issuer.active_kid
    verified = await verifier.verify(token)
    assert verified.principal.subject == "order"
    assert verified.principal.kind == "service"
    assert verified.principal.scopes == {"inventory:reserve"}
    assert set(verified.claims) >= {"iss", "sub", "aud", "exp", "iat", "jti"}
    assert verified.claims["exp"] - verified.claims["iat"] == 300


async def test_token_for_another_audience_is_refused(issuer, verifier):
    with pytest.raises(SecurityError) as caught:
        await verifier.verify(issuer.issue(sub="order", aud="payment"))
    assert caught.value.context["reason"] == "InvalidAudienceError"


async def test_verified_tokens_are_cached_and_the_jwks_fetched_once(issuer, fetcher, verifier):
    token = issuer.issue(sub="order", aud="inventory")
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    other = await verifier.verify(issuer.issue(sub="catalog", aud="inventory"))
    assert other.principal.subject == "catalog"
    assert fetcher.calls == 1


async def test_cached_token_stops_verifying_after_expiry(issuer, fetcher):
    clock = Clock(10_000.0)
    timed_issuer = TokenIssuer(ISSUER, clock=clock)
    verifier = TokenVerifier(ISSUER, StaticJwksFetcher(timed_issuer.jwks), "inventory", leeway=0, clock=clock)
    token = timed_issuer.issue(sub="order", aud="inventory", ttl=60)
    await verifier.verify(token)
    clock.now += 61
    with pytest.raises(SecurityError):
        await verifier.verify(token)


async def test_verified_token_cache_is_bounded(issuer, fetcher):
    verifier = TokenVerifier(ISSUER, fetcher, "inventory", cache_size=4)
    for n in range(10):
        await verifier.verify(issuer.issue(sub=f"svc{n}", aud="inventory"))
    assert len(verifier._cache) <= 4


async def test_rotation_needs_no_refresh_and_old_tokens_still_verify(issuer, fetcher, verifier):
    old_kid = issuer.active_kid
    before = issuer.issue(sub="order", aud="inventory")
    assert (await verifier.verify(before)).principal.subject == "order"
    new_kid = issuer.rotate()
    after = issuer.issue(sub="order", aud="inventory")
    kids = [k["kid"] for k in issuer.jwks()["keys"]]
    assert kids[1:] == [new_kid, old_kid]  # a fresh next key, the active one, the previous one
    verifier._cache.clear()
    assert (await verifier.verify(before)).principal.subject == "order"
    # The new key was published as "next" before the rotation: the verifier knew it already.
    assert (await verifier.verify(after)).principal.subject == "order"
    assert fetcher.calls == 1


async def test_previous_keys_beyond_keep_leave_the_jwks(issuer):
    first = issuer.active_kid
    for _ in range(3):
        issuer.rotate()
    kids = [k["kid"] for k in issuer.jwks()["keys"]]
    assert len(kids) == 4  # next, active, two previous
    assert first not in kids


async def test_unknown_kid_refreshes_at_most_once_per_interval(issuer):
    clock = Clock()
    fetcher = StaticJwksFetcher(issuer.jwks)
    cache = JwksCache(fetcher, min_refresh=30, clock=clock)
    assert await cache.get(issuer.active_kid) is not None
    results = await asyncio.gather(*(cache.get(f"made-up-{n}") for n in range(50)))
    assert results == [None] * 50
    assert fetcher.calls == 1  # the first lookup fetched; the flood of unknown kids fetched nothing more
    clock.now += 31
    assert await cache.get("made-up-again") is None
    assert fetcher.calls == 2


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"leeway": 61}, "leeway"),
        ({"leeway": -1}, "leeway"),
        ({"algorithms": ("HS256",)}, "algorithms"),
        ({"algorithms": ("none",)}, "algorithms"),
        ({"algorithms": ("EdDSA", "RS256")}, "algorithms"),
        ({"algorithms": ()}, "algorithms"),
    ],
)
def test_unsafe_verifier_configuration_is_refused(fetcher, options, match):
    with pytest.raises(ConfigError, match=match):
        TokenVerifier(ISSUER, fetcher, "inventory", **options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": 3601}, "ttl"),
        ({"claims": {"aud": "payment"}}, "override"),
        ({"claims": {"iss": "https://evil"}}, "override"),
    ],
)
def test_issuer_refuses_long_lived_tokens_and_claim_overrides(issuer, options, match):
    with pytest.raises(SecurityError, match=match):
        issuer.issue(sub="order", aud="inventory", **options)


async def test_lifetime_longer_than_allowed_is_refused(issuer, fetcher):
    verifier = TokenVerifier(ISSUER, fetcher, "inventory", max_lifetime=120)
    with pytest.raises(SecurityError) as caught:
        await verifier.verify(issuer.issue(sub="order", aud="inventory", ttl=600))
    assert caught.value.context["reason"] == "lifetime longer than allowed"


def test_open_persists_sealed_keys_and_rotation(tmp_path):
    ring = Keyring(MasterKey.generate())
    first = TokenIssuer.open(tmp_path, issuer=ISSUER, keyring=ring)
    path = tmp_path / "tokens" / "signing-keys.json"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert set(json.loads(path.read_text())) == {"kid", "nonce", "ct"}  # sealed, nothing readable
    assert TokenIssuer.open(tmp_path, issuer=ISSUER, keyring=ring).active_kid == first.active_kid
    new_kid = first.rotate()
    reopened = TokenIssuer.open(tmp_path, issuer=ISSUER, keyring=ring)
    assert reopened.active_kid == new_kid
    assert len(reopened.jwks()["keys"]) == 3
    with pytest.raises(SecretError):
        TokenIssuer.open(tmp_path, issuer=ISSUER, keyring=Keyring(MasterKey.generate()))


def test_parse_jwks_keeps_only_ed25519_signing_keys(issuer):
    good = issuer.jwks()["keys"][0]
    document = {
        "keys": [
            good,
            {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {**good, "kid": "enc", "use": "enc"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "broken", "x": "AAAA"},
            "not a key",
        ]
    }
    assert list(parse_jwks(document)) == [good["kid"]]
    assert parse_jwks({"keys": "nope"}) == {}


async def test_provider_caches_per_audience_until_near_expiry():
    clock = Clock(50_000.0)
    source = LocalTokenSource(TokenIssuer(ISSUER, clock=clock), "order", ttl=120)
    provider = ServiceTokenProvider(source, refresh_margin=30, clock=clock)
    first = await provider("inventory")
    assert await provider("inventory") == first
    assert await provider("payment") != first
    assert source.issued == 2
    clock.now += 89  # 31 s left: still fresh
    assert await provider("inventory") == first
    assert source.issued == 2
    clock.now += 2  # 29 s left: inside the refresh margin
    assert await provider("inventory") != first
    assert source.issued == 3


async def test_provider_fetches_once_for_concurrent_callers(issuer):
    source = LocalTokenSource(issuer, "order")
    provider = ServiceTokenProvider(source)
    tokens = await asyncio.gather(*(provider("inventory") for _ in range(20)))
    assert len(set(tokens)) == 1
    assert source.issued == 1
