"""Migrations: the kit's, the events package's and the service's histories apply at start, once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import inspect, text

from baton.errors import ConfigError
from baton.kit import InstanceSettings, MigrationSource, Service, migrate, write_revision
from baton.kit.db import create_engine
from baton.kit.migrator import KIT_MIGRATIONS, declared_heads, framework_sources


def _metadata(*columns: str) -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        *(sa.Column(name, sa.String(50)) for name in columns),
    )
    return metadata


async def _tables_and_versions(url: str, tables: list[str]) -> tuple[set[str], dict[str, list[str]]]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        names = set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        versions = {
            table: list((await connection.execute(text(f"SELECT version_num FROM {table}"))).scalars())
            for table in tables
            if table in names
        }
    await engine.dispose()
    return names, versions


async def test_service_start_applies_every_history(tmp_path: Path):
    migrations = tmp_path / "migrations"
    write_revision(migrations, message="create notes", metadata=_metadata("body"))
    settings = InstanceSettings(home=tmp_path / "home")
    service = Service("notes", migrations=migrations)
    async with service.running(settings):
        pass
    tables, versions = await _tables_and_versions(
        settings.model_copy(update={"service": "notes"}).database_url(),
        ["baton_kit_version", "baton_events_version", "alembic_version"],
    )
    assert {"notes", "baton_idempotency", "baton_kit_version", "alembic_version"} <= tables
    assert versions["baton_kit_version"] == ["kit0001"]
    assert versions["alembic_version"] == ["0001"]
    if len(framework_sources()) > 1:  # the events package ships its outbox/inbox tables
        assert versions["baton_events_version"]


async def test_migrating_twice_is_a_no_op_and_a_new_revision_applies_on_top(tmp_path: Path):
    migrations = tmp_path / "migrations"
    first = write_revision(migrations, message="create notes", metadata=_metadata("body"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_engine(url)
    sources = [KIT_MIGRATIONS, MigrationSource(migrations)]
    await migrate(engine, sources)
    await migrate(engine, sources)
    second = write_revision(migrations, message="add author", metadata=_metadata("body", "author"))
    await migrate(engine, sources)
    async with engine.connect() as connection:
        columns = await connection.run_sync(lambda c: [col["name"] for col in inspect(c).get_columns("notes")])
        version = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    await engine.dispose()
    assert (first.name, second.name) == ("v0001_create_notes.py", "v0002_add_author.py")
    assert columns == ["id", "body", "author"]
    assert version == "0002"


def test_write_revision_refuses_when_nothing_changed(tmp_path: Path):
    write_revision(tmp_path / "m", message="create notes", metadata=_metadata("body"))
    with pytest.raises(ConfigError, match="nothing to write"):
        write_revision(tmp_path / "m", message="again", metadata=_metadata("body"))


async def test_a_missing_migration_directory_is_a_config_error(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(ConfigError, match="does not exist"):
        await migrate(engine, [MigrationSource(tmp_path / "nope")])
    await engine.dispose()


async def test_sqlite_engine_uses_wal_and_a_busy_timeout(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'deep' / 'dir' / 'db.sqlite'}")
    async with engine.connect() as connection:
        journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
        timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one()
        synchronous = (await connection.execute(text("PRAGMA synchronous"))).scalar_one()
    await engine.dispose()
    assert (journal, timeout, synchronous) == ("wal", 5000, 1)


def _revision_file(directory: Path, revision: str, down: object) -> None:
    (directory / "versions").mkdir(parents=True, exist_ok=True)
    (directory / "versions" / f"r{revision}.py").write_text(
        f"from alembic import op\n\nrevision = {revision!r}\ndown_revision: str | None = {down!r}\n"
    )


@pytest.mark.parametrize(
    ("chain", "heads"),
    [
        ([("a", None)], {"a"}),
        ([("a", None), ("b", "a"), ("c", "b")], {"c"}),
        ([("a", None), ("b", "a"), ("c", "a")], {"b", "c"}),  # two branches
        ([("a", None), ("b", "a"), ("c", "a"), ("m", ("b", "c"))], {"m"}),  # merged again
    ],
)
def test_heads_are_read_off_the_revision_files(tmp_path: Path, chain, heads):
    for revision, down in chain:
        _revision_file(tmp_path, revision, down)
    assert declared_heads(tmp_path) == heads


def test_heads_computed_in_code_are_left_to_alembic(tmp_path: Path):
    (tmp_path / "versions").mkdir()
    (tmp_path / "versions" / "r1.py").write_text("revision = make_id()\ndown_revision = None\n")
    assert declared_heads(tmp_path) is None


def test_an_instance_whose_database_is_at_head_never_imports_alembic(tmp_path: Path):
    migrations = tmp_path / "migrations"
    write_revision(migrations, message="create notes", metadata=_metadata("body"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from baton.kit.db import create_engine\n"
        "from baton.kit.migrator import MigrationSource, framework_sources, migrate\n"
        f"engine = create_engine({url!r})\n"
        f"asyncio.run(migrate(engine, [*framework_sources(), MigrationSource(Path({str(migrations)!r}))]))\n"
        "print('alembic' in sys.modules)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True) for _ in range(2)]
    assert [run.stdout.splitlines()[-1] for run in runs] == ["True", "False"], [run.stderr for run in runs]
