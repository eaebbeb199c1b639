"""The kit's database features on PostgreSQL (asyncpg): migrations, transactions, idempotency.

Each test gets a fresh database (created and dropped here), so reruns and parallel runs never collide.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from apps.hello.service import service
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from baton.kit import InstanceSettings

pytestmark = [pytest.mark.integration, pytest.mark.scaleout]


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    url = make_url(postgres_url)
    name = f"baton_kit_{uuid.uuid4().hex[:12]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_hello_on_postgres_migrates_and_honours_idempotency(database_url: str, tmp_path: Path):
    settings = InstanceSettings(home=tmp_path, db_url=database_url)
    async with service.running(settings) as ctx:
        assert ctx.engine is not None
        assert ctx.engine.url.get_backend_name() == "postgresql"
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hello") as client:
            headers = {"Idempotency-Key": "pg-1"}
            duplicates = await asyncio.gather(
                *(client.post("/v1/greetings", json={"name": "Ada"}, headers=headers) for _ in range(4))
            )
            replay = await client.post("/v1/greetings", json={"name": "Ada"}, headers=headers)
            changed = await client.post("/v1/greetings", json={"name": "Bob"}, headers=headers)
            listed = await client.get("/v1/greetings")
            ready = await client.get("/readyz?verbose")
        async with ctx.engine.connect() as connection:
            tables = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
            kit_version = (await connection.execute(text("SELECT version_num FROM baton_kit_version"))).scalar_one()
    # Concurrent duplicates: exactly one executes; the others wait on the key's row and replay its answer (or,
    # when they arrive while a reservation is pending, are told to retry with 409).
    executed = [r for r in duplicates if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(executed) == 1
    assert all(
        r.headers.get("Idempotent-Replayed") == "true" or r.status_code == 409 for r in duplicates if r not in executed
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert changed.status_code == 422
    assert [g["name"] for g in listed.json()["items"]] == ["Ada"]
    assert {c["name"]: c["ok"] for c in ready.json()["checks"]}["db"] is True
    assert {"greetings", "baton_idempotency", "alembic_version", "baton_kit_version"} <= tables
    assert kit_version == "kit0001"


async def test_restarting_on_the_same_postgres_database_does_not_migrate_again(database_url: str, tmp_path: Path):
    settings = InstanceSettings(home=tmp_path, db_url=database_url)
    for _ in range(2):
        async with service.running(settings) as ctx:
            assert ctx.engine is not None
            async with ctx.engine.connect() as connection:
                versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    assert versions == ["0001"]
