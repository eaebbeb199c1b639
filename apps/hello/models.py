"""The hello service's tables (its database is its own; no other service reads it)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table

metadata = MetaData()

greetings = Table(
    "greetings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("message", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
)
