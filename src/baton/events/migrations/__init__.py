"""Alembic migrations of Baton's event tables (``baton_outbox``, ``baton_inbox``).

``LOCATION`` is an Alembic script location with a minimal ``env.py`` (it uses the connection passed in
``config.attributes["connection"]``, else ``sqlalchemy.url``); the version table is ``baton_events_version``
so the events tables migrate independently of the service's own tables. :func:`upgrade` applies them on a sync
connection without going through ``env.py`` (e.g. inside ``AsyncConnection.run_sync``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

LOCATION = Path(__file__).resolve().parent
"""The Alembic script location."""
VERSION_TABLE = "baton_events_version"
"""Alembic version table of the events migrations."""


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Apply the events migrations up to ``revision`` on ``connection`` (in its transaction)."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(LOCATION))

    def upgrade_steps(rev: Any, _context: Any) -> Any:
        return script._upgrade_revs(revision, rev)

    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "fn": upgrade_steps, "script": script}
    )
    with Operations.context(context), context.begin_transaction():
        context.run_migrations()
