"""Identity: sign-up, scrypt hashes, login tokens and the refusal to run without a signing secret."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import pytest
from apps.shop.identity.passwords import ScryptPolicy, hash_password_sync, verify_password_sync
from apps.shop.identity.service import roles_for, service
from apps.shop.identity.settings import IdentitySettings
from apps.shop.identity.tokens import TokenSigner

from baton.errors import ConfigError, SecurityError
from baton.kit import InstanceSettings

SECRET = "s" * 40
FAST = ScryptPolicy(n=2**10)


@pytest.fixture
async def client(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("IDENTITY_JWT_SECRET", SECRET)
    monkeypatch.setenv("IDENTITY_STAFF_EMAILS", "boss@example.test")
    service.reload_settings()
    async with service.running(InstanceSettings(home=tmp_path)):
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
            yield http
    service.reload_settings()


def test_hashes_are_salted_self_describing_and_verified_in_constant_time():
    first, second = hash_password_sync("correct horse", policy=FAST), hash_password_sync("correct horse", policy=FAST)
    assert first != second
    assert first.startswith("scrypt$1024$8$1$")
    assert verify_password_sync("correct horse", first)
    assert not verify_password_sync("wrong horse", first)
    assert not verify_password_sync("correct horse", "md5$abc")
    assert not verify_password_sync("correct horse", "garbage")


def test_staff_role_comes_from_the_listed_emails():
    assert roles_for(" Boss@Example.test", staff_emails=["boss@example.test"]) == ("customer", "staff")
    assert roles_for("ada@example.test", staff_emails=["boss@example.test", ""]) == ("customer",)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (IdentitySettings(jwt_secret=None, dev_mode=False), "IDENTITY_JWT_SECRET is not set"),
        (IdentitySettings(jwt_secret="short", dev_mode=False), "at least 32 bytes"),
    ],
)
async def test_the_signer_refuses_to_start_without_a_proper_secret(settings, error):
    with pytest.raises(ConfigError, match=error):
        TokenSigner(settings).load(settings)


async def test_dev_mode_signs_with_a_generated_key():
    settings = IdentitySettings(jwt_secret=None, dev_mode=True)
    signer, other = TokenSigner(), TokenSigner()
    signer.load(settings)
    other.load(settings)
    token = signer.issue(subject="u1", email="a@example.test", roles=["customer"])
    assert signer.verify(token)["sub"] == "u1"
    with pytest.raises(SecurityError):
        other.verify(token)  # another throwaway key


async def test_the_service_does_not_start_without_a_secret(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("IDENTITY_JWT_SECRET", raising=False)
    monkeypatch.delenv("IDENTITY_DEV_MODE", raising=False)
    service.reload_settings()
    with pytest.raises(ConfigError, match="IDENTITY_JWT_SECRET"):
        async with service.running(InstanceSettings(home=tmp_path)):
            pass
    service.reload_settings()


async def test_sign_up_then_log_in_returns_a_verifiable_hs256_token(client):
    created = await client.post("/v1/users", json={"email": "Ada@Example.test", "password": "lovelace1", "name": "Ada"})
    login = await client.post("/v1/login", json={"email": "ada@example.test", "password": "lovelace1"})
    assert created.status_code == 201
    assert created.json()["roles"] == ["customer"]
    assert "password" not in str(created.json())
    body = login.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], audience="shop")
    assert claims["sub"] == created.json()["id"]
    assert claims["email"] == "ada@example.test"
    assert claims["roles"] == ["customer"]
    assert claims["iss"] == "https://identity.shop"
    assert time.time() + 3500 < claims["exp"] <= time.time() + 3600


async def test_staff_get_the_staff_role_in_their_token(client):
    await client.post("/v1/users", json={"email": "boss@example.test", "password": "password1", "name": "Boss"})
    login = await client.post("/v1/login", json={"email": "boss@example.test", "password": "password1"})
    claims = jwt.decode(login.json()["access_token"], SECRET, algorithms=["HS256"], audience="shop")
    assert claims["roles"] == ["customer", "staff"]


async def test_a_taken_email_is_a_conflict(client):
    body = {"email": "ada@example.test", "password": "lovelace1", "name": "Ada"}
    await client.post("/v1/users", json=body)
    again = await client.post("/v1/users", json={**body, "email": "ADA@example.test"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("email", "password"), [("ada@example.test", "wrong-password"), ("nobody@example.test", "lovelace1")]
)
async def test_wrong_credentials_are_401_and_look_the_same(client, email, password):
    await client.post("/v1/users", json={"email": "ada@example.test", "password": "lovelace1", "name": "Ada"})
    answer = await client.post("/v1/login", json={"email": email, "password": password})
    assert answer.status_code == 401
    assert answer.json()["detail"] == "e-mail or password is wrong"


async def test_me_needs_a_valid_token(client):
    await client.post("/v1/users", json={"email": "ada@example.test", "password": "lovelace1", "name": "Ada"})
    token = (await client.post("/v1/login", json={"email": "ada@example.test", "password": "lovelace1"})).json()
    forged = jwt.encode({"sub": "x", "exp": time.time() + 60}, "k" * 40, algorithm="HS256")
    mine = await client.get("/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert mine.json()["email"] == "ada@example.test"
    assert (await client.get("/v1/me")).status_code == 401
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})).status_code == 401
