"""The mail sink's table: one row per distinct message received."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Unique: a sender that retries after a lost reply re-sends the same Message-ID, and the sink keeps one copy.
    Column("message_id", String(255), nullable=False, unique=True),
    Column("mail_from", String(320), nullable=False),
    Column("rcpt_to", String(2000), nullable=False, index=True),
    Column("subject", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", Float, nullable=False),
)
