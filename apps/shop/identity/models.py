"""The identity service's tables: users (a salted scrypt hash, never the password), refresh tokens (their
SHA-256, never the token) in rotation families, and recent failed logins (for the brute-force limit)."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, MetaData, String, Table

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(300), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Index("ix_refresh_tokens_family_id", "family_id"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", String(32), primary_key=True),
    # ``account:<sha256 of the e-mail>`` or ``ip:<address>``: no e-mail in clear in this table.
    Column("subject", String(400), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_login_failures_subject_at", "subject", "at"),
)
