"""The /v1/config and /v1/secrets router, mounted in a small app with real NATS and a real secret store."""

from __future__ import annotations

import logging

import httpx
import nats
import pytest
from fastapi import FastAPI

from baton.control import api_config
from baton.security.secrets import LocalSecretStore, Secret

pytestmark = pytest.mark.integration

VALUE = "tr0ub4dor-&-3-horse-battery"


@pytest.fixture
async def nc(nats_url):
    conn = await nats.connect(nats_url)
    yield conn
    await conn.close()


@pytest.fixture
def secrets(tmp_path):
    return LocalSecretStore.open(tmp_path, environ={})


@pytest.fixture
async def client(nc, secrets):
    app = FastAPI()
    app.state.nats = nc
    app.state.secrets = secrets
    app.include_router(api_config.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://control") as http:
        yield http


async def test_config_crud(client):
    put = await client.put("/v1/config/catalog.page_size", json={"value": "25"})
    assert put.status_code == 200
    assert put.json()["value"] == "25"
    await client.put("/v1/config/_global.greeting", json={"value": "hi"})
    await client.put("/v1/config/order.page_size", json={"value": "9"})

    got = await client.get("/v1/config/catalog.page_size")
    assert (got.status_code, got.json()["value"]) == (200, "25")
    listed = await client.get("/v1/config", params={"service": "catalog"})
    assert [i["key"] for i in listed.json()["items"]] == ["_global.greeting", "catalog.page_size"]

    assert (await client.delete("/v1/config/catalog.page_size")).status_code == 204
    missing = await client.get("/v1/config/catalog.page_size")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.delete("/v1/config/catalog.page_size")).status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/config/Bad.Key", {"value": "1"}), ("/v1/config/catalog.x", {"value": 1}), ("/v1/config/catalog.x", [])],
)
async def test_config_rejects_bad_input_with_a_problem(client, path, body):
    response = await client.put(path, json=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 400


async def test_secrets_never_leave_in_a_response_or_a_log(client, secrets, caplog):
    with caplog.at_level(logging.DEBUG):
        put = await client.put("/v1/secrets/catalog/DB_PASSWORD", json={"value": VALUE})
        listed = await client.get("/v1/secrets")
        # Malformed bodies: the error must not echo what was sent.
        bad_json = await client.put("/v1/secrets/catalog/DB_PASSWORD", content=b'{"value": "' + VALUE.encode() + b'"')
        bad_shape = await client.put("/v1/secrets/catalog/DB_PASSWORD", json={"value": [VALUE]})
        bad_name = await client.put("/v1/secrets/not-a-name", json={"value": VALUE})
        deleted_missing = await client.delete("/v1/secrets/catalog/NOPE")

    assert put.status_code == 204
    assert put.content == b""
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["name"] == "catalog/DB_PASSWORD"
    assert item["version"] == 1
    assert (bad_json.status_code, bad_shape.status_code, bad_name.status_code) == (400, 400, 400)
    assert deleted_missing.status_code == 404
    for response in (put, listed, bad_json, bad_shape, bad_name, deleted_missing):
        assert VALUE not in response.text
    assert VALUE not in caplog.text
    assert "catalog/DB_PASSWORD" in caplog.text  # the audit line names the secret
    # And the value did arrive.
    assert secrets.get("catalog/DB_PASSWORD") == Secret(VALUE)

    assert (await client.delete("/v1/secrets/catalog/DB_PASSWORD")).status_code == 204
    assert (await client.get("/v1/secrets")).json()["items"] == []


async def test_missing_state_is_a_clear_problem():
    app = FastAPI()
    app.include_router(api_config.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://control") as http:
        config = await http.get("/v1/config")
        secrets = await http.get("/v1/secrets")
    assert config.status_code == 503
    assert "app.state.nats" in config.json()["detail"]
    assert secrets.status_code == 500
    assert "app.state.secrets" in secrets.json()["detail"]
