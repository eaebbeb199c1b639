"""The hub's SQL: pages of entries, single versions, writes and relation links.

Everything here takes the caller's session, so a write, its links, its outbox event and its webhook deliveries
commit in one transaction.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.content import sql
from apps.shop.content.models import entries, links
from apps.shop.content.query import Query
from apps.shop.content.schema import ContentType, Registry

__all__ = [
    "count_versions",
    "delete_versions",
    "find_rows",
    "get_row",
    "insert_row",
    "new_document_id",
    "now_iso",
    "read_links",
    "replace_links",
    "update_row",
]

_ALPHABET = string.ascii_lowercase + string.digits


def new_document_id() -> str:
    """A Strapi-style ``documentId``: 24 lowercase alphanumerics (≈124 bits of randomness)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(24))


def now_iso() -> str:
    """The current UTC time as Strapi writes it: ``2024-03-06T22:19:54.646Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def scope_for(
    session: AsyncSession, ctype: ContentType, registry: Registry, query: Query, default_locale: str
) -> sql.Scope:
    """The filter scope of ``query`` on the entries table."""
    return sql.Scope(entries, ctype, registry, query.status, default_locale, _dialect(session))


async def find_rows(
    session: AsyncSession, ctype: ContentType, registry: Registry, query: Query, *, default_locale: str
) -> tuple[list[Row[Any]], int | None]:
    """One page of entries matching ``query`` and, when it asks for a count, the total."""
    scope = scope_for(session, ctype, registry, query, default_locale)
    conditions = [entries.c.type_uid == ctype.uid, entries.c.status == query.status]
    if query.locale is not None:
        conditions.append(entries.c.locale == query.locale)
    if query.filters:
        conditions.append(sql.where(scope, query.filters))
    page = (
        select(entries)
        .where(*conditions)
        .order_by(*sql.order_by(scope, query.sort))
        .offset(query.pagination.offset)
        .limit(query.pagination.limit)
    )
    rows = list((await session.execute(page)).all())
    total = None
    if query.pagination.with_count:
        total = int((await session.execute(select(func.count()).select_from(entries).where(*conditions))).scalar_one())
    return rows, total


async def get_row(session: AsyncSession, uid: str, document_id: str, *, locale: str, status: str) -> Row[Any] | None:
    """One version of a document, or ``None``."""
    query = select(entries).where(
        entries.c.type_uid == uid,
        entries.c.document_id == document_id,
        entries.c.locale == locale,
        entries.c.status == status,
    )
    return (await session.execute(query)).first()


async def first_document_id(session: AsyncSession, uid: str) -> str | None:
    """The document of a single type (it has at most one), in any locale or status."""
    query = select(entries.c.document_id).where(entries.c.type_uid == uid).order_by(entries.c.id).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def versions(session: AsyncSession, uid: str, document_id: str) -> list[Row[Any]]:
    """Every version (locale × status) of a document."""
    query = select(entries).where(entries.c.type_uid == uid, entries.c.document_id == document_id)
    return list((await session.execute(query.order_by(entries.c.id))).all())


async def count_versions(session: AsyncSession, uid: str, document_ids: Sequence[str]) -> set[str]:
    """The subset of ``document_ids`` that exist (any locale, any status) in type ``uid``."""
    if not document_ids:
        return set()
    query = select(entries.c.document_id).where(entries.c.type_uid == uid, entries.c.document_id.in_(document_ids))
    return set((await session.execute(query.distinct())).scalars().all())


async def insert_row(
    session: AsyncSession,
    *,
    uid: str,
    document_id: str,
    locale: str,
    status: str,
    data: Mapping[str, Any],
    created_at: str,
    updated_at: str,
    published_at: str | None,
) -> int:
    """Insert one version; its id."""
    result = await session.execute(
        insert(entries)
        .values(
            type_uid=uid,
            document_id=document_id,
            locale=locale,
            status=status,
            data=dict(data),
            created_at=created_at,
            updated_at=updated_at,
            published_at=published_at,
        )
        .returning(entries.c.id)
    )
    return int(result.scalar_one())


async def update_row(session: AsyncSession, entry_id: int, **values: Any) -> None:
    """Change columns of one version."""
    await session.execute(update(entries).where(entries.c.id == entry_id).values(**values))


async def delete_versions(session: AsyncSession, entry_ids: Sequence[int]) -> None:
    """Delete versions and their links."""
    if entry_ids:
        # Links go first explicitly: SQLite only cascades with foreign keys on, which a shared engine may not have.
        await session.execute(delete(links).where(links.c.entry_id.in_(entry_ids)))
        await session.execute(delete(entries).where(entries.c.id.in_(entry_ids)))


async def read_links(
    session: AsyncSession, entry_ids: Sequence[int], fields: Sequence[str] | None = None
) -> list[Row[Any]]:
    """The links of ``entry_ids`` (optionally only some fields), in position order."""
    if not entry_ids:
        return []
    query = select(links).where(links.c.entry_id.in_(entry_ids))
    if fields is not None:
        query = query.where(links.c.field.in_(fields))
    return list((await session.execute(query.order_by(links.c.entry_id, links.c.field, links.c.position))).all())


async def replace_links(
    session: AsyncSession, entry_id: int, field: str, target_uid: str, document_ids: Sequence[str]
) -> None:
    """Make ``field`` of entry ``entry_id`` link to exactly ``document_ids``, in that order."""
    await session.execute(delete(links).where(links.c.entry_id == entry_id, links.c.field == field))
    if document_ids:
        await session.execute(
            insert(links),
            [
                {
                    "entry_id": entry_id,
                    "field": field,
                    "target_uid": target_uid,
                    "target_document_id": document_id,
                    "position": position,
                }
                for position, document_id in enumerate(document_ids)
            ],
        )


async def copy_links(session: AsyncSession, source_id: int, target_id: int) -> None:
    """Give entry ``target_id`` exactly the links of entry ``source_id`` (publishing a draft)."""
    await session.execute(delete(links).where(links.c.entry_id == target_id))
    rows = await read_links(session, [source_id])
    if rows:
        await session.execute(
            insert(links),
            [
                {
                    "entry_id": target_id,
                    "field": r.field,
                    "target_uid": r.target_uid,
                    "target_document_id": r.target_document_id,
                    "position": r.position,
                }
                for r in rows
            ],
        )
