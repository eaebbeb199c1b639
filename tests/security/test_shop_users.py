"""The shop's service-side pieces on their own: user-token verification (``apps.shop.common.users``) and sealed
fields with key rotation (``apps.shop.common.fields``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apps.shop.common.fields import FieldKeys
from apps.shop.common.testusers import STAFF, TestUsers
from apps.shop.common.users import UserAuth, owner_check

from baton.errors import ConfigError, NotFound, SecretError, SecurityError
from baton.kit.component import InstanceContext
from baton.kit.settings import InstanceSettings
from baton.security.crypto import Keyring, MasterKey


def _ctx(home: Path) -> InstanceContext:
    return InstanceContext(service="order", instance="order-1", settings=InstanceSettings(home=home))


async def _auth(tmp_path: Path, environ: dict[str, str]) -> UserAuth:
    auth = UserAuth(environ=environ)
    await auth.start(_ctx(tmp_path))
    return auth


async def test_a_token_of_the_trusted_issuer_becomes_a_user_with_roles_and_scopes(tmp_path):
    users = TestUsers()
    auth = await _auth(tmp_path, {"SHOP_USER_JWKS": users.jwks_json()})
    principal = await auth.authenticate(f"Bearer {users.token('u1', roles=STAFF)}")
    assert principal.subject == "u1"
    assert principal.kind == "user"
    assert principal.roles == frozenset(STAFF)
    assert principal.has_scopes("catalog:write", "stock:write", "orders:read")
    assert not principal.has_scopes("admin")


async def test_other_issuers_expired_long_lived_and_missing_tokens_are_refused(tmp_path):
    trusted, stranger = TestUsers(), TestUsers()
    auth = await _auth(tmp_path, {"SHOP_USER_JWKS": trusted.jwks_json()})
    for header in (
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        f"Bearer {stranger.token('u1')}",
        f"Bearer {trusted.expired_token('u1')}",
        f"Bearer {trusted.token('u1', ttl=3600)}",  # identity never issues more than 15 minutes
    ):
        with pytest.raises(SecurityError):
            await auth.authenticate(header)


async def test_without_a_way_to_reach_identity_every_token_is_refused(tmp_path):
    users = TestUsers()
    auth = await _auth(tmp_path, {})  # no SHOP_USER_JWKS, no URL, no bus, no fixed addresses
    with pytest.raises(SecurityError, match="invalid or expired"):
        await auth.authenticate(f"Bearer {users.token('u1')}")


async def test_a_malformed_jwks_setting_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="SHOP_USER_JWKS"):
        await _auth(tmp_path, {"SHOP_USER_JWKS": "{not json"})
    with pytest.raises(ConfigError, match="SHOP_USER_JWKS"):
        await _auth(tmp_path, {"SHOP_USER_JWKS": json.dumps([1, 2])})


async def test_ownership_foreign_is_missing_and_staff_see_all(tmp_path):
    users = TestUsers()
    auth = await _auth(tmp_path, {"SHOP_USER_JWKS": users.jwks_json()})
    ada = await auth.authenticate(f"Bearer {users.token('ada')}")
    boss = await auth.authenticate(f"Bearer {users.token('boss', roles=STAFF)}")
    owner_check("ada", ada, resource="cart")
    owner_check("ada", boss, resource="cart")
    with pytest.raises(NotFound) as foreign:
        owner_check("eve", ada, resource="cart")
    with pytest.raises(NotFound) as missing:
        owner_check(None, ada, resource="cart")
    with pytest.raises(NotFound):
        owner_check(None, boss, resource="cart")
    assert foreign.value.message == missing.value.message


async def test_sealed_fields_survive_a_key_rotation_and_refuse_tampering(tmp_path):
    old, new = MasterKey.generate(), MasterKey.generate()
    before = FieldKeys("order", environ={"ORDER_FIELD_KEYS": old.to_base64()})
    await before.start(_ctx(tmp_path))
    sealed = before.seal("ada@example.test", context="order.email:o1")
    after = FieldKeys("order", environ={"ORDER_FIELD_KEYS": f"{new.to_base64()},{old.to_base64()}"})
    await after.start(_ctx(tmp_path))
    resealed = after.seal("ada@example.test", context="order.email:o1")
    assert "ada" not in sealed
    assert after.open(sealed, context="order.email:o1") == "ada@example.test"  # the retired key still opens
    assert resealed.split(":")[1] == new.key_id != sealed.split(":")[1]  # new values use the new key
    assert after.open("plain@example.test", context="order.email:o1") == "plain@example.test"  # before sealing
    with pytest.raises(SecretError):
        after.open(sealed, context="order.email:o2")  # moved to another row
    with pytest.raises(SecretError):
        after.open(sealed[:-2] + ("AA" if not sealed.endswith("AA") else "BB"), context="order.email:o1")
    only_new = FieldKeys("order", keyring=Keyring(new))
    with pytest.raises(SecretError):
        only_new.open(sealed, context="order.email:o1")  # the old key retired too early


async def test_the_shopper_refreshes_once_for_every_request_that_met_an_expired_token():
    import asyncio

    import httpx
    from apps.shop.common.shopper import Shopper

    refreshes: list[str] = []
    current = {"access": "a0"}

    async def shop(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/login":
            return httpx.Response(200, json={"access_token": "a0", "refresh_token": "r0", "expires_in": 600})
        if request.url.path == "/v1/me":
            return httpx.Response(200, json={"id": "u1"})
        if request.url.path == "/v1/refresh":
            used = json.loads(request.content)["refresh_token"]
            refreshes.append(used)
            n = len(refreshes)
            current["access"] = f"a{n}"
            return httpx.Response(200, json={"access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": 600})
        if request.headers.get("authorization") != f"Bearer {current['access']}":
            return httpx.Response(401, json={"title": "Unauthorized"})
        return httpx.Response(200, json={"ok": True})

    async with httpx.AsyncClient(transport=httpx.MockTransport(shop)) as http:
        shopper = Shopper(http, services={"identity": "http://id", "order": "http://order"})
        await shopper.log_in("ada@example.test", "pw")
        current["access"] = "rotated-away"  # the access token expired meanwhile
        answers = await asyncio.gather(*(shopper.call("order", "GET", "/v1/orders") for _ in range(5)))
    assert answers == [{"ok": True}] * 5
    assert refreshes == ["r0"]  # one refresh for all five: a second use of r0 would revoke the login
    assert shopper.refresh_token == "r1"
