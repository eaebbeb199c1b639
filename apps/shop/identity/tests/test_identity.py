"""Identity: sign-up, scrypt hashes, EdDSA access tokens and their JWKS, rotating refresh tokens in families,
the failed-login limit, sealed signing keys and the refusal to run without the secret that seals them."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import httpx
import jwt
import pytest
from apps.shop.common.users import ROLE_SCOPES
from apps.shop.identity.passwords import ScryptPolicy, hash_password_sync, verify_password_sync
from apps.shop.identity.service import roles_for, service
from apps.shop.identity.settings import IdentitySettings
from apps.shop.identity.tokens import KEYS_DIR, UserTokens

from baton.errors import ConfigError, SecretError
from baton.kit import InstanceSettings

FAST = ScryptPolicy(n=2**10)
SEAL = base64.b64encode(os.urandom(32)).decode()
ADA = {"email": "ada@example.test", "password": "lovelace1"}


@pytest.fixture
async def client(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("IDENTITY_KEYS_SECRET", SEAL)
    monkeypatch.setenv("IDENTITY_STAFF_EMAILS", "boss@example.test")
    monkeypatch.setenv("IDENTITY_ADMIN_EMAILS", "root@example.test")
    monkeypatch.setenv("IDENTITY_LOGIN_MAX_FAILURES", "3")
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)):
        transport = httpx.ASGITransport(app=service.app, client=("203.0.113.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
            yield http
    service.reload_settings()


async def _sign_up(client: httpx.AsyncClient, email: str = ADA["email"], password: str = ADA["password"]) -> str:
    created = await client.post("/v1/users", json={"email": email, "password": password, "name": "Someone"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _log_in(client: httpx.AsyncClient, email: str = ADA["email"], password: str = ADA["password"]) -> dict:
    answer = await client.post("/v1/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _claims(client_jwks: dict, token: str) -> dict:
    header = jwt.get_unverified_header(token)
    key = next(k for k in client_jwks["keys"] if k["kid"] == header["kid"])
    return dict(
        jwt.decode(token, jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="shop", issuer="https://identity.shop")
    )


def test_hashes_are_salted_self_describing_and_verified_in_constant_time():
    first, second = hash_password_sync("correct horse", policy=FAST), hash_password_sync("correct horse", policy=FAST)
    assert first != second
    assert first.startswith("scrypt$1024$8$1$")
    assert verify_password_sync("correct horse", first)
    assert not verify_password_sync("wrong horse", first)
    assert not verify_password_sync("correct horse", "md5$abc")
    assert not verify_password_sync("correct horse", "garbage")


def test_roles_come_from_the_listed_emails():
    assert roles_for(" Boss@Example.test", staff_emails=["boss@example.test"]) == ("customer", "staff")
    assert roles_for("ada@example.test", staff_emails=["boss@example.test", ""]) == ("customer",)
    assert roles_for("r@x.test", staff_emails=[], admin_emails=["R@x.test"]) == ("customer", "staff", "admin")


async def test_the_service_does_not_start_without_the_secret(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("IDENTITY_KEYS_SECRET", raising=False)
    monkeypatch.delenv("IDENTITY_DEV_MODE", raising=False)
    service.reload_settings()
    with pytest.raises(ConfigError, match="IDENTITY_KEYS_SECRET"):
        async with service.running(InstanceSettings(home=tmp_path)):
            pass
    service.reload_settings()


def test_signing_keys_are_sealed_at_rest_and_survive_a_restart(tmp_path: Path):
    settings = IdentitySettings(keys_secret=SEAL)
    first, second = UserTokens(settings), UserTokens(settings)
    first.load(settings, tmp_path)
    second.load(settings, tmp_path)
    assert first.jwks() == second.jwks()  # same keys, read back from the sealed file
    stored = (tmp_path / "tokens" / "signing-keys.json").read_text()
    assert set(json.loads(stored)) == {"kid", "nonce", "ct"}  # AES-GCM envelope, no key material in clear
    assert oct((tmp_path / "tokens" / "signing-keys.json").stat().st_mode & 0o777) == "0o600"
    other = IdentitySettings(keys_secret=base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(SecretError):
        UserTokens(other).load(other, tmp_path)


def test_dev_mode_keeps_the_sealing_key_in_the_data_directory(tmp_path: Path):
    settings = IdentitySettings(dev_mode=True)
    tokens = UserTokens(settings)
    tokens.load(settings, tmp_path / KEYS_DIR)
    assert (tmp_path / KEYS_DIR / "master.key").exists()
    assert tokens.issue(subject="u1", roles=["customer"]).count(".") == 2


async def test_login_issues_a_short_lived_eddsa_token_with_roles_and_scopes(client):
    user_id = await _sign_up(client)
    body = await _log_in(client)
    jwks = (await client.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(body["access_token"])
    claims = _claims(jwks, body["access_token"])
    assert header["alg"] == "EdDSA"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 600
    assert claims["sub"] == user_id
    assert claims["roles"] == ["customer"]
    assert set(claims["scope"].split()) == ROLE_SCOPES["customer"]
    assert {"iss", "sub", "aud", "exp", "iat", "jti"} <= claims.keys()
    assert "email" not in claims  # a token carries what services need, not personal data
    assert time.time() + 500 < claims["exp"] <= time.time() + 600
    assert all("d" not in key for key in jwks["keys"])  # public keys only


async def test_staff_and_admin_roles_are_in_their_tokens(client):
    await _sign_up(client, "boss@example.test", "password1")
    await _sign_up(client, "root@example.test", "password1")
    jwks = (await client.get("/.well-known/jwks.json")).json()
    boss = _claims(jwks, (await _log_in(client, "boss@example.test", "password1"))["access_token"])
    root = _claims(jwks, (await _log_in(client, "root@example.test", "password1"))["access_token"])
    assert boss["roles"] == ["customer", "staff"]
    assert "catalog:write" in boss["scope"].split()
    assert "admin" not in boss["scope"].split()
    assert "admin" in root["scope"].split()


async def test_roles_cannot_be_chosen_at_sign_up(client):
    answer = await client.post("/v1/users", json={**ADA, "name": "Ada", "role": "admin"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "extra_forbidden"


async def test_a_taken_email_is_a_conflict(client):
    await _sign_up(client)
    again = await client.post("/v1/users", json={**ADA, "email": "ADA@example.test", "name": "Ada"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("email", "password"), [("ada@example.test", "wrong-password"), ("nobody@example.test", "lovelace1")]
)
async def test_wrong_credentials_are_401_and_look_the_same(client, email, password):
    await _sign_up(client)
    answer = await client.post("/v1/login", json={"email": email, "password": password})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "e-mail or password is wrong"


async def test_refresh_rotates_and_a_replay_revokes_the_family(client):
    await _sign_up(client)
    first = await _log_in(client)
    second = (await client.post("/v1/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.json()["email"] == ADA["email"]
    replay = await client.post("/v1/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    # The family is gone: the newest token, never used, is refused too.
    after = await client.post("/v1/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401
    # Another login is another family.
    assert (
        await client.post("/v1/refresh", json={"refresh_token": (await _log_in(client))["refresh_token"]})
    ).is_success


async def test_logout_revokes_the_refresh_token(client):
    await _sign_up(client)
    tokens = await _log_in(client)
    assert (await client.post("/v1/logout", json={"refresh_token": tokens["refresh_token"]})).status_code == 204
    assert (await client.post("/v1/logout", json={"refresh_token": "unknown"})).status_code == 204
    assert (await client.post("/v1/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401


async def test_failed_logins_lock_the_account_whether_or_not_it_exists(client):
    await _sign_up(client)
    answers = {}
    for email in (ADA["email"], "nobody@example.test"):
        for _ in range(3):
            assert (await client.post("/v1/login", json={"email": email, "password": "nope-nope"})).status_code == 401
        answers[email] = await client.post("/v1/login", json={"email": email, "password": ADA["password"]})
    ada, nobody = answers[ADA["email"]], answers["nobody@example.test"]
    assert ada.status_code == nobody.status_code == 429  # the right password is refused while locked
    assert 0 < int(ada.headers["Retry-After"]) <= 900
    differs = {"correlation_id"}  # per request by design
    assert {k: v for k, v in ada.json().items() if k not in differs} == {
        k: v for k, v in nobody.json().items() if k not in differs
    }


async def test_a_success_clears_the_accounts_failures(client):
    await _sign_up(client)
    for _ in range(2):
        await client.post("/v1/login", json={"email": ADA["email"], "password": "nope-nope"})
    await _log_in(client)
    for _ in range(2):
        await client.post("/v1/login", json={"email": ADA["email"], "password": "nope-nope"})
    await _log_in(client)


async def test_me_needs_a_valid_token(client):
    await _sign_up(client)
    token = (await _log_in(client))["access_token"]
    forged = jwt.encode({"sub": "x", "exp": time.time() + 60}, "k" * 40, algorithm="HS256")
    mine = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert mine.json()["email"] == ADA["email"]
    assert (await client.get("/v1/me")).status_code == 401
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})).status_code == 401
