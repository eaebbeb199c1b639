"""The saga engine's tables, in the hosting service's own database.

``baton_saga`` is a projection (status, accumulated data, lease) updated with every transition;
``baton_saga_log`` is the append-only truth, never updated; ``baton_flow_event`` is the choreography
tracker's record of events by correlation id. The Alembic migration in ``migrations/`` creates the same
tables (version table ``baton_saga_version``); tests may use ``metadata.create_all``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from baton.sql import Json

metadata = sa.MetaData()


saga_table = sa.Table(
    "baton_saga",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("correlation_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # The seq of the newest log entry: appends are conditional on it (optimistic concurrency) and on the
    # owner, so a driver that lost its lease can never add to the log.
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(200), nullable=True),
    # Epoch seconds rather than a timestamp: compared numerically on every backend, no time-zone pitfalls.
    sa.Column("lease_expires_at", sa.Float, nullable=True),
    sa.Index("ix_baton_saga_status", "status", "lease_expires_at"),
    sa.Index("ix_baton_saga_correlation_id", "correlation_id"),
)

saga_log_table = sa.Table(
    "baton_saga_log",
    metadata,
    sa.Column("saga_id", sa.String(64), sa.ForeignKey("baton_saga.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("step", sa.String(100), nullable=True),
    sa.Column("attempt", sa.Integer, nullable=True),
    sa.Column("payload", Json, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
)

flow_event_table = sa.Table(
    "baton_flow_event",
    metadata,
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("correlation_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(200), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("summary", Json, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_baton_flow_event_correlation", "correlation_id", "at"),
)


def utcnow() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite hands back naive datetimes, which Baton writes in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
