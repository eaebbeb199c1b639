"""The events tables: the outbox's pending index is partial on SQLite and PostgreSQL, without importing the
PostgreSQL dialect into a process that never talks to PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_mock_engine
from sqlalchemy.schema import CreateIndex

from baton.events.tables import metadata


def _ddl(url: str) -> list[str]:
    statements: list[str] = []
    engine = create_mock_engine(url, lambda sql, *a, **kw: statements.append(str(sql.compile(dialect=engine.dialect))))
    metadata.create_all(engine, checkfirst=False)
    return statements


@pytest.mark.parametrize("url", ["sqlite://", "postgresql://"])
def test_the_pending_index_is_partial(url: str) -> None:
    pending = [s for s in _ddl(url) if "ix_baton_outbox_pending" in s]
    assert len(pending) == 1
    assert "WHERE sent_at IS NULL" in pending[0]


def test_the_other_indexes_are_not_partial() -> None:
    (processed,) = [s for s in _ddl("postgresql://") if "ix_baton_inbox_processed_at" in s]
    assert "WHERE" not in processed


def test_importing_the_tables_leaves_the_postgresql_dialect_out() -> None:
    code = "import sys, baton.events.tables; print('sqlalchemy.dialects.postgresql' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_sqlite_index_compiles_alone() -> None:
    from sqlalchemy.dialects import sqlite

    (index,) = [i for t in metadata.sorted_tables for i in t.indexes if i.name == "ix_baton_outbox_pending"]
    assert str(CreateIndex(index).compile(dialect=sqlite.dialect())).endswith("WHERE sent_at IS NULL")
