"""Gateway issuers in baton.yaml and JWKS URLs naming a service (``baton://identity/...``) fetched through discovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import jwt
import pytest
from aiohttp import web

from baton.control.manifest import load_manifest, parse_manifest
from baton.errors import ConfigError, ManifestError, SecurityError
from baton.gateway.config import load_config, parse_config
from baton.gateway.policies import jwks as jwks_module
from baton.gateway.policies.jwks import JwksKeys, ServiceFetcher, use_service_fetcher
from baton.security.tokens import TokenIssuer

SHOP = Path(__file__).resolve().parents[3] / "apps" / "shop" / "baton.yaml"
ISSUER = {"name": "identity", "issuer": "https://identity.shop", "audience": "shop"}


def _gateway(jwks_url: str) -> dict[str, object]:
    return {"issuers": [{**ISSUER, "jwks_url": jwks_url}], "routes": [{"prefix": "/v1/orders", "service": "order"}]}


def test_a_jwks_url_may_name_a_service_or_an_address():
    for url in ("baton://identity/.well-known/jwks.json", "https://id.example/jwks", "http://127.0.0.1:9000"):
        assert parse_config(_gateway(url)).issuers[0].jwks_url == url
    for url in ("identity/.well-known/jwks.json", "baton://Identity/jwks", "baton://identity", "ftp://x/jwks"):
        with pytest.raises(ConfigError, match=r"issuers\[0\].*jwks_url must be"):
            parse_config(_gateway(url))


MANIFEST = """name: s
services:
  identity: {command: [x]}
  order: {command: [x]}
gateway:
  issuers:
    - name: identity
      issuer: https://identity.shop
      audience: [shop]
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("      jwks_url: baton://nobody/jwks.json\n", "baton.yaml:10: gateway.issuers[0].jwks_url: unknown service"),
        ("      jwks_url: identity/jwks.json\n", "baton.yaml:10: gateway.issuers[0].jwks_url: must be https://"),
        ("", "baton.yaml:7: gateway.issuers[0]: set exactly one of jwks_url or secret_env"),
        ("      jwks_url: baton://identity/j\n      secret: s\n", "baton.yaml:11: gateway.issuers[0].secret"),
        ("      jwks_url: baton://identity/j\n      leeway: 5m\n", "baton.yaml:11: gateway.issuers[0].leeway"),
    ],
)
def test_manifest_gateway_issuers_are_checked_with_file_and_line(extra, expected):
    with pytest.raises(ManifestError) as caught:
        parse_manifest(MANIFEST + extra)
    assert expected in str(caught.value)


def test_the_shop_gateway_trusts_identity_on_the_routes_that_need_a_user():
    manifest = load_manifest(SHOP)
    assert [i.jwks_url for i in manifest.gateway.issuers] == ["baton://identity/.well-known/jwks.json"]
    config = load_config(SHOP)
    [issuer] = config.issuers
    assert (issuer.issuer, issuer.audience, issuer.allowed_algorithms()) == (
        "https://identity.shop",
        ("shop",),
        ("EdDSA",),
    )
    guarded = {r.name for r in config.routes if r.auth is not None and r.auth.required}
    assert {"v1-carts", "v1-orders", "v1-me"} <= guarded
    for anonymous in ("v1-products", "v1-users", "v1-login", "v1-refresh", "v1-logout", "v1-categories"):
        assert anonymous not in guarded


@pytest.fixture
async def identity_like() -> AsyncIterator[tuple[str, TokenIssuer, list[dict[str, str]]]]:
    """A real HTTP server publishing an EdDSA JWKS; records the headers of each request."""
    issuer = TokenIssuer("https://identity.shop")
    seen: list[dict[str, str]] = []

    async def jwks(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response(issuer.jwks())

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", issuer, seen
    finally:
        await runner.cleanup()


@pytest.fixture
def fetcher_slot() -> Iterator[None]:
    yield
    use_service_fetcher(None)


async def test_a_service_jwks_is_fetched_from_an_instance_of_that_service(identity_like, fetcher_slot):
    url, issuer, seen = identity_like
    use_service_fetcher(ServiceFetcher(static={"identity": [url]}))
    keys = JwksKeys("baton://identity/.well-known/jwks.json")
    token = issuer.issue(sub="ada", aud="shop")
    kid = jwt.get_unverified_header(token)["kid"]
    assert await keys.key_for(kid) is not None
    assert keys.fetches == 1
    assert len(seen) == 1
    assert "X-Baton-Service-Token" not in seen[0]  # a plain instance never sees a service token


async def test_an_issuer_not_found_yet_is_retried_soon_then_at_the_refresh_interval(
    identity_like, fetcher_slot, monkeypatch
):
    url, _, _ = identity_like
    fetcher = ServiceFetcher(static={})
    use_service_fetcher(fetcher)
    keys = JwksKeys("baton://identity/.well-known/jwks.json", refresh_interval=300.0)
    clock = [time.monotonic()]
    monkeypatch.setattr(jwks_module.time, "monotonic", lambda: clock[0])
    with pytest.raises(SecurityError, match="no instance of 'identity'"):
        await keys.refresh(force=True)
    assert not keys.due()
    clock[0] += 1.0
    assert keys.due()  # 1 s after a failure, not 300
    with pytest.raises(SecurityError):
        await keys.refresh(force=True)
    clock[0] += 1.0
    assert not keys.due()  # then 2 s
    clock[0] += 1.0
    assert keys.due()
    fetcher.static = {"identity": (url,)}  # identity registered meanwhile
    await keys.refresh(force=True)
    assert keys.keys
    clock[0] += 30.0
    assert not keys.due()  # loaded: back to the refresh interval
    clock[0] += 300.0
    assert keys.due()


async def test_a_service_jwks_url_without_discovery_is_a_clear_error(fetcher_slot):
    use_service_fetcher(None)
    with pytest.raises(SecurityError, match="needs the gateway's discovery"):
        await JwksKeys("baton://identity/.well-known/jwks.json").refresh(force=True)


async def test_a_token_right_after_a_failed_first_fetch_waits_for_the_next_one_instead_of_a_401(
    identity_like, fetcher_slot
):
    # The gateway started before identity was in its discovery view: the first fetch failed. A customer's token
    # arriving a moment later must not be refused for "an unknown key" until the next scheduled retry.
    url, issuer, seen = identity_like
    fetcher = ServiceFetcher(static={})
    use_service_fetcher(fetcher)
    keys = JwksKeys("baton://identity/.well-known/jwks.json")
    with pytest.raises(SecurityError):
        await keys.refresh(force=True)
    fetcher.static = {"identity": (url,)}  # identity registered meanwhile
    kid = jwt.get_unverified_header(issuer.issue(sub="ada", aud="shop"))["kid"]
    found = await asyncio.gather(*(keys.key_for(kid) for _ in range(20)))
    assert all(key is not None for key in found)
    assert len(seen) == 1  # twenty waiting tokens, one fetch
    # Once a set is loaded, unknown key ids are refused without waiting and fetch at most once per 10 s.
    assert await keys.key_for("made-up-kid") is None
    assert await keys.key_for("another-made-up-kid") is None
    assert len(seen) == 1
