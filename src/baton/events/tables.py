"""The outbox and inbox tables (SQLAlchemy Core, in their own :data:`metadata`).

They live in each service's own database, beside its domain tables, so an event row commits in the same
transaction as the state change (outbox) and a handler's effects commit with the record of the event
(inbox). Shipped as Alembic migrations in ``baton/events/migrations`` (version table ``baton_events_version``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    event,
)

metadata = MetaData()
"""Baton's event tables; apply with the migrations, or ``metadata.create_all`` in tests."""

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

outbox = Table(
    "baton_outbox",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True, comment="Relay order."),
    Column("id", String(64), nullable=False, unique=True, comment="Event id = Nats-Msg-Id."),
    Column("type", String(255), nullable=False),
    Column("subject", String(255), nullable=False, comment="NATS subject."),
    Column("payload", LargeBinary, nullable=False, comment="Structured-mode CloudEvent JSON."),
    Column("created_at", Float, nullable=False, comment="Unix seconds."),
    Column("sent_at", Float, nullable=True, comment="Unix seconds the broker acknowledged it; NULL = pending."),
    Column("attempts", Integer, nullable=False, default=0, comment="Failed publish attempts."),
    Column("last_error", Text, nullable=True),
)
# The relay only ever scans pending rows: a partial index keeps that scan small however long rows are kept.
_pending = Index("ix_baton_outbox_pending", outbox.c.seq, sqlite_where=outbox.c.sent_at.is_(None))


@event.listens_for(outbox, "before_create")
def _partial_on_postgresql(table: Table, connection: Any, **kw: Any) -> None:
    """Make the pending index partial on PostgreSQL too, when the table is created there.

    Not ``postgresql_where=`` on the :class:`Index`: SQLAlchemy validates a dialect's keyword by importing the
    dialect, and every instance on SQLite would carry the PostgreSQL dialect (~1.5 MB) for this one keyword.
    The migrations (``migrations/versions``) create the same partial index on both.
    """
    if connection.dialect.name == "postgresql":
        _pending.dialect_options["postgresql"]["where"] = outbox.c.sent_at.is_(None)


inbox = Table(
    "baton_inbox",
    metadata,
    Column("consumer", String(128), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("processed_at", Float, nullable=False, comment="Unix seconds."),
    PrimaryKeyConstraint("consumer", "event_id", name="pk_baton_inbox"),
)
Index("ix_baton_inbox_processed_at", inbox.c.processed_at)
