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

Alembic (with Mako and its DDL dialects: ~3 MB and a second of CPU on a busy machine) is imported only when a
history really has to move: at start, the version tables are compared with the heads read off the revision
files first, and an instance whose database is already at head never loads it. :func:`load_alembic` imports
it without the Pygments syntax highlighting Mako would load for its HTML error pages (~4.5 MB more).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import datetime
import fcntl
import importlib
import importlib.util
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from baton._lazy import import_without
from baton.errors import ConfigError, StoreError
from baton.telemetry.logging import get_logger

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

__all__ = [
    "KIT_MIGRATIONS",
    "MigrationSource",
    "current_heads",
    "declared_heads",
    "framework_sources",
    "load_alembic",
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


def _revision_files(directory: Path) -> list[Path]:
    versions = directory / "versions"
    where = versions if versions.is_dir() else directory
    if not where.is_dir():
        return []
    return [p for p in where.iterdir() if p.suffix == ".py" and p.stem not in ("__init__", "env")]


def _has_revisions(directory: Path) -> bool:
    return bool(_revision_files(directory))


_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]+)?=\s*(.+?)\s*$", re.MULTILINE)


def declared_heads(location: Path) -> frozenset[str] | None:
    """The head revisions of the history in ``location``, read off its files without Alembic.

    ``None`` when a file does not state ``revision``/``down_revision`` as plain literals (then only Alembic
    can tell, and :func:`migrate` asks it).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in _revision_files(location):
        found = dict(_ASSIGNMENT.findall(path.read_text()))
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found["down_revision"])
        except (KeyError, ValueError, SyntaxError):
            return None
        downs = (down,) if down is None or isinstance(down, str) else down
        if not isinstance(revision, str) or not all(d is None or isinstance(d, str) for d in downs):
            return None
        revisions.add(revision)
        parents.update(d for d in downs if d is not None)
    return frozenset(revisions - parents)


def _stored_heads(connection: Connection, source: MigrationSource) -> frozenset[str]:
    if not sqlalchemy.inspect(connection).has_table(source.version_table):
        return frozenset()
    version = sqlalchemy.table(source.version_table, sqlalchemy.column("version_num"))
    return frozenset(connection.execute(sqlalchemy.select(version.c.version_num)).scalars())


def _at_head(connection: Connection, source: MigrationSource) -> bool:
    if not source.script_location.is_dir():
        return False  # Alembic's path reports it (ConfigError)
    heads = declared_heads(source.script_location)
    return heads is not None and _stored_heads(connection, source) == heads


_ALEMBIC_MODULES = (
    "alembic.config",
    "alembic.op",
    "alembic.runtime.environment",
    "alembic.runtime.migration",
    "alembic.script",
)


def load_alembic() -> None:
    """Import what :func:`migrate` uses of Alembic (the zygote preloads it with this), Mako without Pygments."""
    # Mako colours the source in its HTML error pages with Pygments when installed; migrations never render
    # one, and Alembic uses Mako only to write revision files.
    import_without("mako.exceptions", "pygments")
    for module in _ALEMBIC_MODULES:
        importlib.import_module(module)


def _config(location: Path) -> Config:
    load_alembic()
    from alembic.config import Config

    if not location.is_dir():
        raise ConfigError(f"migration directory {location} does not exist")
    config = Config()
    config.set_main_option("script_location", str(location))
    if not (location / "versions").is_dir():
        config.set_main_option("version_locations", str(location))
    return config


def _upgrade(connection: Connection, source: MigrationSource) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

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
    load_alembic()
    from alembic.runtime.migration import MigrationContext

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
    async with engine.connect() as connection:
        pending = [source for source in sources if not await connection.run_sync(_at_head, source)]
    if not pending:
        return
    lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        lock = _file_lock(Path(f"{url.database}.migrate.lock"))
    # Taking a file lock blocks; do it off the event loop so the instance's loop keeps answering /livez.
    await asyncio.to_thread(lock.__enter__)
    try:
        for source in pending:
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
    load_alembic()
    from alembic.autogenerate import produce_migrations, render_python_code
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

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
