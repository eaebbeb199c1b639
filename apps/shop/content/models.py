"""The content hub's tables: one generic entries table, relation links, media files, webhooks and deliveries.

Why one generic table rather than a generated table per content type: content types are *data* here — a team
edits ``schema.json`` files, as in Strapi's Content-Type Builder — and a generic shape keeps adding a type or an
attribute free of schema migrations and of per-type SQL, while every query still runs in SQL: filters, sort and
pagination compile to JSON expressions (``json_extract`` on SQLite, ``->>`` on PostgreSQL, through SQLAlchemy's
``JSON`` comparator), relations are joins through :data:`links`. The cost is that attribute values are not typed
columns; :mod:`apps.shop.content.filters` casts per the schema's attribute type, and the indexes cover the access
path every query shares (type, status, locale).

An *entry* is one version of a document, keyed ``(type_uid, document_id, locale, status)`` as in Strapi v5:
a document with draft & publish has a ``draft`` row and, once published, a ``published`` row per locale.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

entries = Table(
    "content_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type_uid", String(120), nullable=False),
    Column("document_id", String(32), nullable=False),
    Column("locale", String(16), nullable=False, comment="'' for a type without i18n"),
    Column("status", String(9), nullable=False, comment="draft or published"),
    Column("data", JSON, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("published_at", String(32), nullable=True),
    UniqueConstraint("type_uid", "document_id", "locale", "status", name="uq_content_entries_version"),
    Index("ix_content_entries_scan", "type_uid", "status", "locale"),
)

links = Table(
    "content_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", Integer, ForeignKey("content_entries.id", ondelete="CASCADE"), nullable=False),
    Column("field", String(100), nullable=False),
    Column("target_uid", String(120), nullable=False),
    Column("target_document_id", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    Index("ix_content_links_entry", "entry_id", "field"),
    Index("ix_content_links_target", "target_uid", "target_document_id"),
)

media = Table(
    "content_media",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("document_id", String(32), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("alternative_text", Text, nullable=True),
    Column("caption", Text, nullable=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("hash", String(64), nullable=False),
    Column("ext", String(16), nullable=False),
    Column("mime", String(100), nullable=False),
    Column("size", Float, nullable=False, comment="kilobytes, as Strapi reports it"),
    Column("url", String(1000), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

webhooks = Table(
    "content_webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("url", String(1000), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("events", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
)

deliveries = Table(
    "content_webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("webhook_id", Integer, ForeignKey("content_webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(50), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(10), nullable=False, comment="pending, delivered or dead"),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    Index("ix_content_deliveries_due", "status", "next_attempt_at"),
)
