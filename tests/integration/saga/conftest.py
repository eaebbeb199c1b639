"""One database shared by several orchestrators, each with its own engine (its own connection pool)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from baton.kit.db import create_engine
from baton.saga import metadata


class SharedDatabase:
    """Hands out engines on one database; disposes them all at the end."""

    def __init__(self, url: str, connect_args: dict | None = None) -> None:
        self.url, self.connect_args, self.engines = url, connect_args or {}, []

    def engine(self):
        engine = (
            create_engine(self.url, connect_args=self.connect_args) if self.connect_args else create_engine(self.url)
        )
        self.engines.append(engine)
        return engine

    async def aclose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.scaleout)])
async def shared_db(request, tmp_path):
    if request.param == "sqlite":
        db = SharedDatabase(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}")
        async with db.engine().begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield db
        await db.aclose()
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"saga_it_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = SharedDatabase(url, {"server_settings": {"search_path": schema}})
    try:
        async with db.engine().begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield db
    finally:
        await db.aclose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
