"""JWT attacks against a real uvicorn service behind ``ServiceTokenAuth``: each must answer 401 problem+json,
leak nothing about keys or the reason, and fetch keys only from the configured issuer (rate-limited).

The issuer (the control plane's security router) and an attacker's key server are real HTTP servers too, so
"no request reached the attacker" is observed, not assumed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from baton.errors import SecurityError
from baton.security.api import security_router
from baton.security.ca import CertificateAuthority
from baton.security.crypto import Keyring, MasterKey
from baton.security.tokens import ServiceTokenAuth, TokenIssuer, TokenVerifier
from baton.security.tokens.keys import b64url, public_jwk

from .conftest import Counting, Recorder, hello_app, serving

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

GENERIC_DETAILS = {
    "send a service token: X-Baton-Service-Token",
    "the service token is invalid or expired; fetch a new one",
}


@dataclass
class World:
    issuer: TokenIssuer
    issuer_url: str
    issuer_hits: Counting
    attacker: Recorder
    attacker_url: str
    attacker_key: Ed25519PrivateKey
    service_url: str
    session: aiohttp.ClientSession
    verifier: TokenVerifier

    @property
    def real_key(self) -> Ed25519PrivateKey:
        return self.issuer._keys[1].private  # the active signing key (test-only access)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {"iss": self.issuer_url, "sub": "order", "aud": "inventory", "iat": now, "exp": now + 300}
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """A token signed with the real issuer key (so only the claim or header under test is wrong)."""
        return jwt.encode(claims, self.real_key, algorithm="EdDSA", headers={"kid": self.issuer.active_kid, **header})


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A compact JWS built by hand (PyJWT refuses to produce most of these on purpose)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory) -> AsyncIterator[World]:
    home = tmp_path_factory.mktemp("issuer")
    issuer = TokenIssuer("placeholder")
    control = FastAPI()
    control.include_router(
        security_router(CertificateAuthority.open(home, keyring=Keyring(MasterKey.generate())), issuer)
    )
    issuer_hits = Counting(control)
    attacker_key = Ed25519PrivateKey.generate()
    attacker = Recorder({"keys": [public_jwk(attacker_key.public_key())]})
    async with serving(issuer_hits) as issuer_url, serving(attacker) as attacker_url:
        issuer.issuer = issuer_url
        verifier = TokenVerifier.for_issuer(issuer_url, "inventory", leeway=30, min_refresh=30)
        async with serving(ServiceTokenAuth(hello_app(), verifier)) as service_url, aiohttp.ClientSession() as session:
            yield World(
                issuer, issuer_url, issuer_hits, attacker, attacker_url, attacker_key, service_url, session, verifier
            )


async def call(world: World, token: str | None, path: str = "/v1/stock") -> aiohttp.ClientResponse:
    headers = {"X-Baton-Service-Token": token} if token is not None else {}
    async with world.session.get(world.service_url + path, headers=headers) as answer:
        await answer.read()
        return answer


def attacker_jwk_header(world: World) -> dict[str, Any]:
    return {"alg": "EdDSA", "kid": public_jwk(world.attacker_key.public_key())["kid"]}


def pub_bytes(world: World) -> bytes:
    return world.issuer.jwks()["keys"][1]["x"].encode()


RSA_FOREIGN = rsa.generate_private_key(public_exponent=65537, key_size=2048)

# name → token builder. Every one must be refused with 401.
ATTACKS: dict[str, Callable[[World], str]] = {
    "no token": lambda w: "",
    "garbage": lambda w: "not.a.jwt",
    "alg none": lambda w: forge({"alg": "none", "kid": w.issuer.active_kid}, w.claims(), lambda _: b""),
    "alg None with signature": lambda w: forge({"alg": "None", "kid": w.issuer.active_kid}, w.claims(), lambda _: b"x"),
    "HS256 keyed with the public key (key confusion)": lambda w: forge(
        {"alg": "HS256", "kid": w.issuer.active_kid},
        w.claims(),
        lambda data: hmac.new(pub_bytes(w), data, hashlib.sha256).digest(),
    ),
    "HS256 keyed with the whole JWKS entry": lambda w: forge(
        {"alg": "HS256", "kid": w.issuer.active_kid},
        w.claims(),
        lambda data: hmac.new(json.dumps(w.issuer.jwks()["keys"][1]).encode(), data, hashlib.sha256).digest(),
    ),
    "RS256 with a foreign key": lambda w: jwt.encode(
        w.claims(), RSA_FOREIGN, algorithm="RS256", headers={"kid": w.issuer.active_kid}
    ),
    "EdDSA with a foreign key under the real kid": lambda w: jwt.encode(
        w.claims(), w.attacker_key, algorithm="EdDSA", headers={"kid": w.issuer.active_kid}
    ),
    "signature stripped": lambda w: w.sign(w.claims()).rsplit(".", 1)[0] + ".",
    "payload swapped under a valid signature": lambda w: ".".join(
        [
            w.sign(w.claims()).split(".")[0],
            b64url(json.dumps(w.claims(sub="payment")).encode()),
            w.sign(w.claims()).split(".")[2],
        ]
    ),
    "expired": lambda w: w.sign(w.claims(iat=int(time.time()) - 900, exp=int(time.time()) - 120)),
    "nbf in the future": lambda w: w.sign(w.claims(nbf=int(time.time()) + 300)),
    "iat in the future": lambda w: w.sign(w.claims(iat=int(time.time()) + 300, exp=int(time.time()) + 600)),
    "lifetime of two days": lambda w: w.sign(w.claims(exp=int(time.time()) + 2 * 86400)),
    "exp as a string": lambda w: w.sign(w.claims(exp=str(int(time.time()) + 300))),
    "wrong audience": lambda w: w.sign(w.claims(aud="payment")),
    "audience list smuggling the right one": lambda w: w.sign(w.claims(aud=["payment", "inventory"])),
    "wrong issuer": lambda w: w.sign(w.claims(iss="https://issuer.evil")),
    "issuer with a suffix": lambda w: w.sign(w.claims(iss=w.issuer_url + ".evil.com")),
    "issuer as a prefix": lambda w: w.sign(w.claims(iss=w.issuer_url[:-1])),
    "issuer with a trailing slash": lambda w: w.sign(w.claims(iss=w.issuer_url + "/")),
    "missing exp": lambda w: w.sign(w.claims(exp=None)),
    "missing iat": lambda w: w.sign(w.claims(iat=None)),
    "missing sub": lambda w: w.sign(w.claims(sub=None)),
    "missing iss": lambda w: w.sign(w.claims(iss=None)),
    "missing aud": lambda w: w.sign(w.claims(aud=None)),
    "kid path traversal": lambda w: w.sign(w.claims(), kid="../../../../etc/passwd"),
    "kid SQL injection": lambda w: w.sign(w.claims(), kid="' OR '1'='1' --"),
    "kid unknown": lambda w: w.sign(w.claims(), kid="no-such-key"),
    "kid not a string": lambda w: forge({"alg": "EdDSA", "kid": 7}, w.claims(), lambda data: w.real_key.sign(data)),
    "jku to the attacker": lambda w: forge(
        {**attacker_jwk_header(w), "jku": w.attacker_url + "/jwks.json"}, w.claims(), w.attacker_key.sign
    ),
    "x5u to the attacker": lambda w: forge(
        {**attacker_jwk_header(w), "x5u": w.attacker_url + "/cert.pem"}, w.claims(), w.attacker_key.sign
    ),
    "embedded jwk of the attacker": lambda w: forge(
        {**attacker_jwk_header(w), "jwk": public_jwk(w.attacker_key.public_key())}, w.claims(), w.attacker_key.sign
    ),
    "unknown crit": lambda w: w.sign(w.claims(), crit=["exp"], exp=1),
    "crit b64 (understood by PyJWT, not by us)": lambda w: forge(
        {"alg": "EdDSA", "kid": w.issuer.active_kid, "crit": ["b64"], "b64": True},
        w.claims(),
        lambda data: w.real_key.sign(data),
    ),
    "oversized token": lambda w: w.sign(w.claims(pad="x" * 10_000)),
}


async def test_a_valid_token_passes(world):
    answer = await call(world, world.issuer.issue(sub="order", aud="inventory"))
    assert answer.status == 200
    async with world.session.get(
        world.service_url + "/v1/stock",
        headers={"X-Baton-Service-Token": world.issuer.issue(sub="order", aud="inventory")},
    ) as again:
        assert (await again.json())["principal"] == "order"


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_attack_is_refused_without_leaking(world, attack):
    token = ATTACKS[attack](world)
    headers = {"X-Baton-Service-Token": token} if token else {}
    async with world.session.get(world.service_url + "/v1/stock", headers=headers) as answer:
        body = await answer.json(content_type=None)
        assert answer.status == 401
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert body["status"] == 401
    assert body["detail"] in GENERIC_DETAILS
    text = json.dumps(body)
    for jwk in world.issuer.jwks()["keys"]:
        assert jwk["x"] not in text
        assert jwk["kid"] not in text
    for leak in ("Signature", "signature", "kid", "alg", "audience", "issuer", "BEGIN", "Traceback"):
        assert leak not in text
    assert world.attacker.requests == []


# Why each attack fails (the reason stays server-side): proves the 401s above are for the right cause.
REASONS = {
    "garbage": "malformed header",
    "alg none": "algorithm not allowed",
    "alg None with signature": "algorithm not allowed",
    "HS256 keyed with the public key (key confusion)": "algorithm not allowed",
    "HS256 keyed with the whole JWKS entry": "algorithm not allowed",
    "RS256 with a foreign key": "algorithm not allowed",
    "EdDSA with a foreign key under the real kid": "InvalidSignatureError",
    "payload swapped under a valid signature": "InvalidSignatureError",
    "expired": "expired",
    "nbf in the future": "not yet valid",
    "iat in the future": "not yet valid",
    "lifetime of two days": "lifetime longer than allowed",
    "exp as a string": "exp, iat and nbf must be numbers",
    "wrong audience": "InvalidAudienceError",
    "audience list smuggling the right one": "InvalidAudienceError",
    "wrong issuer": "InvalidIssuerError",
    "issuer with a suffix": "InvalidIssuerError",
    "issuer as a prefix": "InvalidIssuerError",
    "issuer with a trailing slash": "InvalidIssuerError",
    "missing exp": "MissingRequiredClaimError",
    "missing iat": "MissingRequiredClaimError",
    "missing sub": "MissingRequiredClaimError",
    "missing iss": "MissingRequiredClaimError",
    "missing aud": "MissingRequiredClaimError",
    "kid path traversal": "unknown kid",
    "kid SQL injection": "unknown kid",
    "kid unknown": "unknown kid",
    "jku to the attacker": "unknown kid",
    "x5u to the attacker": "unknown kid",
    "embedded jwk of the attacker": "unknown kid",
    "crit b64 (understood by PyJWT, not by us)": "critical header extension not understood",
    "oversized token": "token too long",
}


@pytest.mark.parametrize("attack", list(REASONS))
async def test_attack_fails_for_the_expected_reason(world, attack):
    with pytest.raises(SecurityError) as caught:
        await world.verifier.verify(ATTACKS[attack](world))
    assert caught.value.context["reason"].startswith(REASONS[attack])
    assert str(caught.value) == "invalid or expired service token"


async def test_keys_were_fetched_only_from_the_issuer_and_rate_limited(world):
    # Runs after the table: dozens of unknown or forged kids cost the issuer at most the first fetch plus one
    # refresh (min_refresh = 30 s), and the attacker's server was never contacted.
    assert world.attacker.requests == []
    jwks_fetches = [p for p in world.issuer_hits.paths if p == "/.well-known/jwks.json"]
    assert 1 <= len(jwks_fetches) <= 2
    assert set(world.issuer_hits.paths) == {"/.well-known/jwks.json"}


async def test_exempt_health_path_needs_no_token(world):
    answer = await call(world, None, "/livez")
    assert answer.status == 200
