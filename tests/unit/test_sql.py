"""baton.sql: the portable idioms, and the PostgreSQL dialect imported only where PostgreSQL is used."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from sqlalchemy import create_mock_engine
from sqlalchemy.ext.asyncio import create_async_engine

from baton.sql import Json, conflict_insert, insert_new

table = sa.Table(
    "things",
    sa.MetaData(),
    sa.Column("key", sa.String(10), primary_key=True),
    sa.Column("body", Json, nullable=False),
)


def _create_table(url: str) -> str:
    statements: list[str] = []
    engine = create_mock_engine(url, lambda sql, *a, **kw: statements.append(str(sql.compile(dialect=engine.dialect))))
    table.metadata.create_all(engine, checkfirst=False)
    (create,) = statements
    return create


@pytest.mark.parametrize(
    ("url", "column"), [("sqlite://", "body JSON NOT NULL"), ("postgresql://", "body JSONB NOT NULL")]
)
def test_json_is_jsonb_on_postgresql_only(url: str, column: str) -> None:
    assert column in _create_table(url)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_conflict_insert_is_the_dialects_own(dialect: str) -> None:
    insert = conflict_insert(dialect)
    assert insert.__module__.startswith(f"sqlalchemy.dialects.{dialect}.")


async def test_insert_new_says_whether_the_row_is_new() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(engine) as session, session.begin():
            assert await insert_new(session, table, {"key": "a", "body": {"n": 1}}, unique=["key"]) is True
            assert await insert_new(session, table, {"key": "a", "body": {"n": 2}}, unique=["key"]) is False
            rows = (await session.execute(sa.select(table.c.body))).scalars().all()
        assert rows == [{"n": 1}]
    finally:
        await engine.dispose()


def test_the_saga_store_and_the_shop_helpers_leave_the_postgresql_dialect_out() -> None:
    code = (
        "import sys, baton.saga.tables, baton.saga.choreography, baton.sql, apps.shop.common.sql;"
        "print('sqlalchemy.dialects.postgresql' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
