"""The hello service through its HTTP API, on a real SQLite database (no bus)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from apps.hello.service import GREETING_CREATED, compose, service
from sqlalchemy import select

from baton.kit import InstanceSettings


@pytest.fixture
async def client(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HELLO_GREETING", "Bonjour")
    service.reload_settings()  # read HELLO_* as this test set them
    async with service.running(InstanceSettings(home=tmp_path)):
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hello") as http:
            yield http
    service.reload_settings()


def test_compose_is_plain_domain_logic():
    assert compose(None, greeting="Hello") == "Hello, world!"
    assert compose("Ada", greeting="Hi") == "Hi, Ada!"


async def test_hello_uses_the_service_settings(client):
    response = await client.get("/v1/hello", params={"name": "Ada"})
    assert response.json() == {"message": "Bonjour, Ada!"}


async def test_create_then_list_greetings_with_pagination(client):
    for name in ("Ada", "Grace", "Linus"):
        created = await client.post("/v1/greetings", json={"name": name})
        assert created.status_code == 201
    first = await client.get("/v1/greetings", params={"limit": 2})
    rest = await client.get("/v1/greetings", params={"limit": 2, "cursor": first.json()["next_cursor"]})
    assert [g["message"] for g in first.json()["items"]] == ["Bonjour, Ada!", "Bonjour, Grace!"]
    assert [g["name"] for g in rest.json()["items"]] == ["Linus"]
    assert rest.json()["next_cursor"] is None


async def test_idempotent_create_replays_and_rejects_a_changed_body(client):
    headers = {"Idempotency-Key": "greet-ada"}
    first = await client.post("/v1/greetings", json={"name": "Ada"}, headers=headers)
    replay = await client.post("/v1/greetings", json={"name": "Ada"}, headers=headers)
    changed = await client.post("/v1/greetings", json={"name": "Bob"}, headers=headers)
    listed = await client.get("/v1/greetings")
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"] == f"/v1/greetings/{first.json()['id']}"
    assert changed.status_code == 422
    assert len(listed.json()["items"]) == 1


async def test_creating_a_greeting_emits_its_event_through_the_outbox(client):
    outbox = pytest.importorskip("baton.events.tables").outbox
    created = await client.post("/v1/greetings", json={"name": "Ada"})
    async with service.transaction() as session:
        rows = (await session.execute(select(outbox))).mappings().all()
    assert len(rows) == 1
    assert GREETING_CREATED in str(dict(rows[0]))
    assert str(created.json()["id"]) in str(dict(rows[0]))


async def test_invalid_input_is_a_problem(client):
    response = await client.post("/v1/greetings", json={"name": ""})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


async def test_a_cursor_beyond_a_row_id_is_a_validation_error_not_a_crash(client: httpx.AsyncClient) -> None:
    # Found by schemathesis through the gateway: SQLite cannot bind integers past 64 bits.
    response = await client.get("/v1/greetings", params={"cursor": "9" * 23})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
