"""Saga store backends for tests: a SQLite file, or a throw-away schema in the test PostgreSQL."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from baton.kit.db import create_engine
from baton.saga import metadata


@contextlib.asynccontextmanager
async def sqlite_engine(path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite saga database as services get it (the kit's engine: WAL, busy timeout) with the saga tables."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def postgres_engine(url: str) -> AsyncIterator[AsyncEngine]:
    """The saga tables in a fresh PostgreSQL schema, dropped afterwards (reruns start clean)."""
    schema = f"saga_test_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_async_engine(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
