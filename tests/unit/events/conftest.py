"""Fixtures for the events unit tests: a SQLite service database with the event tables and a toy domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from baton.events.tables import metadata as events_metadata

domain = MetaData()
ledger = Table(
    "ledger",
    domain,
    Column("account", String(32), primary_key=True),
    Column("balance", Integer, nullable=False),
)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a fresh SQLite file (WAL) holding the event tables and ``ledger``."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}")

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    async with engine.begin() as conn:
        await conn.run_sync(events_metadata.create_all)
        await conn.run_sync(domain.create_all)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()
