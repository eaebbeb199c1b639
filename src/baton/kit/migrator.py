"""Alembic migrations, run programmatically at start (no ``alembic.ini``, no ``env.py``).

A service's database holds three independent migration histories, each with its own version table, applied
in this order before the instance reports ready:

1. the kit's framework tables (``baton_idempotency``) — ``baton/kit/migrations/``, ``baton_kit_version``;
2. the events package's tables (outbox, inbox), when it ships them — ``baton/events/migrations/``,
   ``baton_events_version``;
3. the service's own — its ``migrations/`` directory, ``alembic_version``.

A migration directory is a standard Alembic script directory (revision files in ``versions/``) or simply a
directory of revision files. Replicas starting together migrate one at a time: a file lock beside a SQLite
database, an advisory lock on PostgreSQL.

Writing a service's first migration (and each next one) from its ``MetaData``::

    python -c "from apps.hello.models import metadata; from baton.kit.migrator import write_revision; \\
               print(write_revision('apps/hello/migrations', message='create greetings', metadata=metadata))"

:func:`write_revision` diffs the metadata against a scratch database upgraded to the directory's current
head and writes the difference as the next revision — review it, then commit it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import fcntl
import importlib.util
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy
from alembic.autogenerate import produce_migrations, render_python_code
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from baton.errors import ConfigError, StoreError
from baton.telemetry.logging import get_logger

__all__ = [
    "KIT_MIGRATIONS",
    "MigrationSource",
    "current_heads",
    "framework_sources",
    "migrate",
    "write_revision",
]


_log = get_logger("baton.kit.migrations")


@dataclass(frozen=True, slots=True)
class MigrationSource:
    """One migration history: where its revisions live and which table records its version."""

    script_location: Path
    version_table: str = "alembic_version"


#: The kit's own framework migrations.
KIT_MIGRATIONS = MigrationSource(Path(__file__).with_name("migrations"), "baton_kit_version")


def framework_sources() -> list[MigrationSource]:
    """The kit's migrations, then the events package's if it ships any."""
    sources = [KIT_MIGRATIONS]
    spec = importlib.util.find_spec("baton.events")
    if spec is not None and spec.submodule_search_locations:
        events_dir = Path(next(iter(spec.submodule_search_locations))) / "migrations"
        if _has_revisions(events_dir):
            sources.append(MigrationSource(events_dir, "baton_events_version"))
    return sources


def _has_revisions(directory: Path) -> bool:
    versions = directory / "versions"
    where = versions if versions.is_dir() else directory
    return where.is_dir() and any(p.suffix == ".py" and p.stem != "__init__" for p in where.iterdir())


def _config(location: Path) -> Config:
    if not location.is_dir():
        raise ConfigError(f"migration directory {location} does not exist")
    config = Config()
    config.set_main_option("script_location", str(location))
    if not (location / "versions").is_dir():
        config.set_main_option("version_locations", str(location))
    return config


def _upgrade(connection: Connection, source: MigrationSource) -> tuple[tuple[str, ...], tuple[str, ...]]:
    config = _config(source.script_location)
    script = ScriptDirectory.from_config(config)
    before = current_heads(connection, source)

    def steps(revision: Any, _: MigrationContext) -> Any:
        return script._upgrade_revs("heads", revision)

    with EnvironmentContext(config, script, fn=steps, destination_rev="heads") as env:
        env.configure(connection=connection, version_table=source.version_table)
        with env.begin_transaction():
            env.run_migrations()
    return before, current_heads(connection, source)


def current_heads(connection: Connection, source: MigrationSource) -> tuple[str, ...]:
    """The revisions ``source`` is at in the database behind ``connection`` (empty: never migrated)."""
    context = MigrationContext.configure(connection, opts={"version_table": source.version_table})
    return context.get_current_heads()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def migrate(engine: AsyncEngine, sources: Sequence[MigrationSource]) -> None:
    """Upgrade the database behind ``engine`` to the head of every source, in order.

    Raises:
        ConfigError: a migration directory is missing.
        StoreError: a migration failed (the message names the source).
    """
    url = engine.url
    lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        lock = _file_lock(Path(f"{url.database}.migrate.lock"))
    # Taking a file lock blocks; do it off the event loop so the instance's loop keeps answering /livez.
    await asyncio.to_thread(lock.__enter__)
    try:
        for source in sources:
            try:
                async with engine.begin() as connection:
                    if url.get_backend_name() == "postgresql":
                        await connection.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": zlib.crc32(source.version_table.encode())},
                        )
                    before, after = await connection.run_sync(_upgrade, source)
                if before != after:
                    _log.info(
                        "migrated",
                        version_table=source.version_table,
                        from_revision=list(before),
                        to_revision=list(after),
                    )
            except ConfigError:
                raise
            except Exception as exc:
                raise StoreError(
                    f"migrations in {source.script_location} ({source.version_table}) failed: {exc}"
                ) from exc
    finally:
        lock.__exit__(None, None, None)


_TEMPLATE = '''"""{message}

Revision ID: {revision}
Revises: {revises}
Create Date: {date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
'''


def write_revision(
    directory: str | Path,
    *,
    message: str,
    metadata: MetaData,
    revision: str | None = None,
) -> Path:
    """Write the next revision of the migrations in ``directory``, generated from ``metadata``.

    Revision ids are sequential (``0001``, ``0002``…) unless ``revision`` is given. Returns the new file.

    Raises:
        ConfigError: the metadata matches the current head already (nothing to write).
    """
    location = Path(directory)
    (location / "versions").mkdir(parents=True, exist_ok=True)
    script = ScriptDirectory.from_config(_config(location))
    heads = script.get_heads()
    if len(heads) > 1:
        raise ConfigError(f"{location} has several heads {heads}; merge them first")
    scratch = sqlalchemy.create_engine("sqlite://")
    with scratch.begin() as connection:
        if heads:
            _upgrade(connection, MigrationSource(location))
        operations = produce_migrations(MigrationContext.configure(connection), metadata)
    if operations.upgrade_ops is None or operations.upgrade_ops.is_empty():
        raise ConfigError(f"{location} is up to date with the metadata; nothing to write")
    assert operations.downgrade_ops is not None
    revision = revision or f"{len(list(script.walk_revisions())) + 1:04d}"
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
    path = location / "versions" / f"v{revision}_{slug}.py"
    path.write_text(
        _TEMPLATE.format(
            message=message,
            revision=revision,
            down_revision=heads[0] if heads else None,
            revises=heads[0] if heads else "",
            date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            upgrade=render_python_code(operations.upgrade_ops),
            downgrade=render_python_code(operations.downgrade_ops),
        )
    )
    return path
