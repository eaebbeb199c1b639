"""The saga tables' Alembic migration, applied with plain Alembic, matches ``baton.saga.tables``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from baton.kit.db import create_engine
from baton.kit.migrator import current_heads, migrate
from baton.saga import MIGRATIONS, SqlSagaStore, metadata


def _config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS.script_location))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


async def test_upgrade_on_a_sqlite_file_creates_the_tables_the_store_uses(tmp_path) -> None:
    path = tmp_path / "migrated.db"
    command.upgrade(_config(f"sqlite:///{path}"), "head")

    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM baton_saga_version")).scalar_one()
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"version_table": MIGRATIONS.version_table}), metadata
        )
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert MIGRATIONS.version_table == "baton_saga_version"
    assert version == "saga_0001"
    assert {"baton_saga", "baton_saga_log", "baton_flow_event"} <= tables
    assert diff == []

    async_engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    store = SqlSagaStore(async_engine)
    _, created = await store.create(
        saga_id="m-1", name="checkout", version=1, data={}, correlation_id="c", owner="o", lease_ttl=5
    )
    assert created
    assert (await store.history("m-1")).entries[0].kind.value == "saga_started"
    await async_engine.dispose()


def test_upgrade_on_a_handed_over_connection_and_downgrade(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'handed.db'}")
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.begin() as conn:
        assert "baton_saga_log" in sa.inspect(conn).get_table_names()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) == {"baton_saga_version"}
    engine.dispose()


async def test_the_kit_migrator_applies_the_saga_history_twice_without_harm(tmp_path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kit.db'}")
    await migrate(engine, [MIGRATIONS])
    await migrate(engine, [MIGRATIONS])
    async with engine.connect() as conn:
        heads = await conn.run_sync(lambda sync: current_heads(sync, MIGRATIONS))
        tables = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
    await engine.dispose()
    assert heads == ("saga_0001",)
    assert {"baton_saga", "baton_saga_log", "baton_flow_event"} <= tables
