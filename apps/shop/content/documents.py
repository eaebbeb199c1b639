"""The hub's document service: find, create, update, delete, publish and unpublish, transport-free.

Strapi v5 semantics: a document with draft & publish has a *draft* version per locale and, once published, a
*published* copy of it; REST writes publish unless told ``status=draft``; an update of a locale that does not
exist yet creates that locale version (only localized attributes may be given; shared ones are copied);
attributes that are not localized hold one value across a document's locales. Every change is announced
(:class:`Change`) in the caller's transaction — the service turns it into an outbox event and webhook deliveries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.content import store
from apps.shop.content.models import entries, media
from apps.shop.content.problems import ContentNotFound, ValidationFailed
from apps.shop.content.query import Query, QueryLimits
from apps.shop.content.render import MEDIA_UID, Renderer
from apps.shop.content.schema import ContentType, Registry
from apps.shop.content.validate import LinkChange, Validated, validate_data

__all__ = ["Announce", "Change", "Documents"]


@dataclass(frozen=True, slots=True)
class Change:
    """A change to announce: Strapi's event name and the entry as it now reads."""

    event: str
    """``entry.create``, ``entry.update``, ``entry.delete``, ``entry.publish`` or ``entry.unpublish``."""
    ctype: ContentType
    document_id: str
    locale: str
    entry: Mapping[str, Any]


Announce = Callable[[AsyncSession, Change], Awaitable[None]]


async def _silent(session: AsyncSession, change: Change) -> None:
    """The default announcer: tests of the document service alone need no events."""


class Documents:
    """Reads and writes documents of the hub's content types."""

    def __init__(self, registry: Registry, limits: QueryLimits, *, announce: Announce = _silent) -> None:
        self.registry = registry
        self.limits = limits
        self.announce = announce

    def renderer(self, session: AsyncSession, status: str) -> Renderer:
        """A renderer of entries in ``status``."""
        return Renderer(session, self.registry, status=status, default_locale=self.limits.default_locale)

    # -- reads --------------------------------------------------------------------------------------

    async def find(
        self, session: AsyncSession, ctype: ContentType, query: Query
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A page of entries and its ``meta.pagination``."""
        rows, total = await store.find_rows(
            session, ctype, self.registry, query, default_locale=self.limits.default_locale
        )
        data = await self.renderer(session, query.status).render(
            ctype, rows, fields=query.fields, populate=query.populate
        )
        page = query.pagination
        if page.by_page:
            meta: dict[str, Any] = {"page": page.page, "pageSize": page.limit}
            if total is not None:
                meta.update(pageCount=-(-total // page.limit), total=total)
        else:
            meta = {"start": page.offset, "limit": page.limit}
            if total is not None:
                meta["total"] = total
        return data, meta

    async def find_one(
        self, session: AsyncSession, ctype: ContentType, document_id: str, query: Query
    ) -> dict[str, Any]:
        """One document in the query's locale and status.

        Raises:
            ContentNotFound: no such version.
        """
        row = await store.get_row(session, ctype.uid, document_id, locale=query.locale or "", status=query.status)
        if row is None:
            raise ContentNotFound()
        rendered = await self.renderer(session, query.status).render(
            ctype, [row], fields=query.fields, populate=query.populate
        )
        return rendered[0]

    async def single_id(self, session: AsyncSession, ctype: ContentType) -> str | None:
        """The document id of a single type, if it has its document."""
        return await store.first_document_id(session, ctype.uid)

    # -- writes -------------------------------------------------------------------------------------

    async def create(
        self,
        session: AsyncSession,
        ctype: ContentType,
        body: Any,
        *,
        locale: str,
        status: str,
        document_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a document in ``locale``; publish it unless ``status`` is ``draft``.

        ``document_id`` fixes the id (seed content); a fresh Strapi-style id otherwise.

        Raises:
            ValidationFailed: the body does not fit the content type, or a relation target is unknown.
        """
        checked = validate_data(ctype, self.registry, body, creating=True)
        document_id = document_id or store.new_document_id()
        await self._check(session, ctype, checked, document_id=document_id, locale=locale)
        now = store.now_iso()
        first_status = "draft" if ctype.draft_and_publish else "published"
        entry_id = await store.insert_row(
            session,
            uid=ctype.uid,
            document_id=document_id,
            locale=locale,
            status=first_status,
            data=checked.data,
            created_at=now,
            updated_at=now,
            published_at=None if ctype.draft_and_publish else now,
        )
        await self._write_links(session, ctype, entry_id, checked, current={})
        created = await self._entry(session, ctype, entry_id)
        await self.announce(session, Change("entry.create", ctype, document_id, locale, created))
        if ctype.draft_and_publish and status == "published":
            return await self.publish(session, ctype, document_id, locale=locale)
        return created

    async def update(
        self, session: AsyncSession, ctype: ContentType, document_id: str, body: Any, *, locale: str, status: str
    ) -> dict[str, Any]:
        """Update (or add) the ``locale`` version of a document; publish it unless ``status`` is ``draft``.

        Raises:
            ContentNotFound: the document does not exist.
            ValidationFailed: the body does not fit the content type.
        """
        versions = await store.versions(session, ctype.uid, document_id)
        if not versions:
            raise ContentNotFound()
        editable = "draft" if ctype.draft_and_publish else "published"
        row = next((v for v in versions if v.locale == locale and v.status == editable), None)
        if row is None:
            return await self._add_locale(session, ctype, versions, body, locale=locale, status=status)
        checked = validate_data(ctype, self.registry, body, creating=False)
        await self._check(session, ctype, checked, document_id=document_id, locale=locale)
        now = store.now_iso()
        data = {**row.data, **checked.data}
        await store.update_row(session, row.id, data=data, updated_at=now)
        await self._write_links(session, ctype, row.id, checked, current=await self._current_links(session, row.id))
        await self._sync_shared(session, ctype, versions, source_locale=locale, data=data)
        updated = await self._entry(session, ctype, row.id)
        await self.announce(session, Change("entry.update", ctype, document_id, locale, updated))
        if ctype.draft_and_publish and status == "published":
            return await self.publish(session, ctype, document_id, locale=locale)
        return updated

    async def publish(
        self, session: AsyncSession, ctype: ContentType, document_id: str, *, locale: str
    ) -> dict[str, Any]:
        """Copy the draft of ``locale`` to its published version.

        Raises:
            ContentNotFound: there is no draft in that locale.
        """
        draft = await store.get_row(session, ctype.uid, document_id, locale=locale, status="draft")
        if draft is None:
            raise ContentNotFound()
        published = await store.get_row(session, ctype.uid, document_id, locale=locale, status="published")
        now = store.now_iso()
        if published is None:
            published_id = await store.insert_row(
                session,
                uid=ctype.uid,
                document_id=document_id,
                locale=locale,
                status="published",
                data=draft.data,
                created_at=draft.created_at,
                updated_at=draft.updated_at,
                published_at=now,
            )
        else:
            published_id = published.id
            await store.update_row(
                session, published_id, data=draft.data, updated_at=draft.updated_at, published_at=now
            )
        await store.copy_links(session, draft.id, published_id)
        entry = await self._entry(session, ctype, published_id)
        await self.announce(session, Change("entry.publish", ctype, document_id, locale, entry))
        return entry

    async def unpublish(
        self, session: AsyncSession, ctype: ContentType, document_id: str, *, locale: str
    ) -> dict[str, Any]:
        """Remove the published version of ``locale`` (the draft stays).

        Raises:
            ContentNotFound: the document is not published in that locale.
        """
        published = await store.get_row(session, ctype.uid, document_id, locale=locale, status="published")
        draft = await store.get_row(session, ctype.uid, document_id, locale=locale, status="draft")
        if published is None or draft is None:
            raise ContentNotFound()
        await store.delete_versions(session, [published.id])
        entry = await self._entry(session, ctype, draft.id)
        await self.announce(session, Change("entry.unpublish", ctype, document_id, locale, entry))
        return entry

    async def delete(self, session: AsyncSession, ctype: ContentType, document_id: str, *, locale: str | None) -> None:
        """Delete every version of the document in ``locale`` (``None``: in every locale).

        Raises:
            ContentNotFound: nothing to delete.
        """
        versions = [
            v for v in await store.versions(session, ctype.uid, document_id) if locale is None or v.locale == locale
        ]
        if not versions:
            raise ContentNotFound()
        announced: dict[str, Row[Any]] = {}
        for version in versions:
            # Announce the published reading when there is one: that is what consumers have been showing.
            if version.locale not in announced or version.status == "published":
                announced[version.locale] = version
        entries_before = {loc: await self._entry(session, ctype, row.id) for loc, row in announced.items()}
        await store.delete_versions(session, [v.id for v in versions])
        for loc, entry in entries_before.items():
            await self.announce(session, Change("entry.delete", ctype, document_id, loc, entry))

    # -- helpers ------------------------------------------------------------------------------------

    async def _add_locale(
        self,
        session: AsyncSession,
        ctype: ContentType,
        versions: Sequence[Row[Any]],
        body: Any,
        *,
        locale: str,
        status: str,
    ) -> dict[str, Any]:
        if not ctype.localized:
            raise ContentNotFound()
        checked = validate_data(ctype, self.registry, body, creating=False, localized_only=True)
        template = versions[0]
        shared = {
            n: v
            for n, v in template.data.items()
            if n in ctype.attributes and not ctype.localized_attribute(ctype.attributes[n])
        }
        data = {**shared, **checked.data}
        missing = [n for n, a in ctype.attributes.items() if a.required and not a.is_relation and data.get(n) is None]
        if missing:
            raise ValidationFailed(
                [{"path": [n], "message": f"{n} must be defined.", "name": "ValidationError"} for n in missing]
            )
        await self._check(session, ctype, checked, document_id=template.document_id, locale=locale)
        now = store.now_iso()
        entry_id = await store.insert_row(
            session,
            uid=ctype.uid,
            document_id=template.document_id,
            locale=locale,
            status="draft" if ctype.draft_and_publish else "published",
            data=data,
            created_at=now,
            updated_at=now,
            published_at=None if ctype.draft_and_publish else now,
        )
        # Relations that are not localized link the same documents in every locale: the new locale starts with them.
        current: dict[str, list[str]] = {}
        for link in await store.read_links(session, [template.id]):
            if not ctype.localized_attribute(ctype.attributes[link.field]):
                current.setdefault(link.field, []).append(link.target_document_id)
        for name, targets in current.items():
            await store.replace_links(session, entry_id, name, _target_uid(ctype, name), targets)
        await self._write_links(session, ctype, entry_id, checked, current=current)
        created = await self._entry(session, ctype, entry_id)
        await self.announce(session, Change("entry.create", ctype, template.document_id, locale, created))
        if ctype.draft_and_publish and status == "published":
            return await self.publish(session, ctype, template.document_id, locale=locale)
        return created

    async def _entry(self, session: AsyncSession, ctype: ContentType, entry_id: int) -> dict[str, Any]:
        row = (await session.execute(select(entries).where(entries.c.id == entry_id))).one()
        return self.renderer(session, row.status).base(ctype, row, None)

    async def _current_links(self, session: AsyncSession, entry_id: int) -> dict[str, list[str]]:
        current: dict[str, list[str]] = {}
        for link in await store.read_links(session, [entry_id]):
            current.setdefault(link.field, []).append(link.target_document_id)
        return current

    async def _write_links(
        self,
        session: AsyncSession,
        ctype: ContentType,
        entry_id: int,
        checked: Validated,
        *,
        current: Mapping[str, list[str]],
    ) -> None:
        for name, change in checked.links.items():
            targets = change.apply(list(current.get(name, [])))
            await store.replace_links(session, entry_id, name, _target_uid(ctype, name), targets)

    async def _sync_shared(
        self,
        session: AsyncSession,
        ctype: ContentType,
        versions: Sequence[Row[Any]],
        *,
        source_locale: str,
        data: Mapping[str, Any],
    ) -> None:
        if not ctype.localized:
            return
        shared = {
            n: data.get(n)
            for n, a in ctype.attributes.items()
            if not ctype.localized_attribute(a) and not a.is_relation
        }
        for version in versions:
            if version.locale != source_locale and any(version.data.get(n) != v for n, v in shared.items()):
                await store.update_row(session, version.id, data={**version.data, **shared})

    async def _check(
        self, session: AsyncSession, ctype: ContentType, checked: Validated, *, document_id: str, locale: str
    ) -> None:
        """Relation and media targets exist; unique attributes are unique among the type's drafts."""
        errors: list[dict[str, Any]] = []
        for name, change in checked.links.items():
            refs = change.references()
            attribute = ctype.attributes[name]
            if attribute.type == "media":
                query = select(media.c.document_id, media.c.id).where(
                    media.c.document_id.in_(refs) | media.c.id.in_([int(r) for r in refs if r.isdigit()])
                )
                found = (await session.execute(query)).all()
                known = {r.document_id for r in found} | {str(r.id) for r in found}
                ids = {str(r.id): r.document_id for r in found}
                # Strapi links media by numeric file id; links store the file's documentId either way.
                checked.links[name] = _rewrite(change, ids)
            else:
                known = await store.count_versions(session, attribute.target or "", refs)
            missing = [r for r in refs if r not in known]
            if missing:
                errors.append(
                    {"path": [name], "message": f"{name}: unknown {', '.join(missing)}", "name": "ValidationError"}
                )
        for name, value in checked.data.items():
            if ctype.attributes[name].unique and isinstance(value, str):
                clash = select(entries.c.id).where(
                    entries.c.type_uid == ctype.uid,
                    entries.c.document_id != document_id,
                    entries.c.locale
                    == (locale if ctype.localized_attribute(ctype.attributes[name]) else entries.c.locale),
                    entries.c.data[name].as_string() == value,
                )
                if (await session.execute(clash.limit(1))).first() is not None:
                    errors.append(
                        {"path": [name], "message": "This attribute must be unique", "name": "ValidationError"}
                    )
        if errors:
            raise ValidationFailed(errors)


def _target_uid(ctype: ContentType, name: str) -> str:
    attribute = ctype.attributes[name]
    return MEDIA_UID if attribute.type == "media" else attribute.target or ""


def _rewrite(change: LinkChange, ids: Mapping[str, str]) -> LinkChange:
    def swap(refs: Sequence[str]) -> tuple[str, ...]:
        return tuple(ids.get(r, r) for r in refs)

    return LinkChange(
        set=swap(change.set) if change.set is not None else None,
        connect=swap(change.connect),
        disconnect=swap(change.disconnect),
    )
