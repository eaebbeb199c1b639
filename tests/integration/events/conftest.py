"""Fixtures for the events integration tests: real NATS (from the wheel) and a real service database.

``sessions`` runs each test on SQLite and, when ``BATON_TEST_POSTGRES_URL`` is set, again on PostgreSQL in a
fresh schema.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from baton.events import connect
from baton.events.tables import metadata as events_metadata

domain = MetaData()
ledger = Table(
    "ledger",
    domain,
    Column("account", String(32), primary_key=True),
    Column("balance", Integer, nullable=False),
)
effects = Table(
    "effects",
    domain,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
)


def _sqlite_engine(path: Path):  # type: ignore[no-untyped-def]
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.scaleout)])
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A service database with the event tables, ``ledger`` and ``effects``."""
    schema = None
    if request.param == "sqlite":
        engine = _sqlite_engine(tmp_path / "svc.db")
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"baton_test_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(url)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
    async with engine.begin() as conn:
        await conn.run_sync(events_metadata.create_all)
        await conn.run_sync(domain.create_all)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()
        if schema is not None:
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()


@pytest.fixture
async def nc(nats_url: str):  # type: ignore[no-untyped-def]
    """A client connected to the test server, reconnecting forever like Baton's own."""
    client = await connect(nats_url, name="test")
    yield client
    await client.close()
