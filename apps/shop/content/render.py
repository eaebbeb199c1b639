"""Entries as Strapi v5 serves them: flat objects with ``id``, ``documentId``, attributes and system fields.

Relations, media, components and dynamic zones are left out unless populated (Strapi's default). Populating
is batched: one query for the links of a whole page, one per target type for the linked entries, then the
same again one level down for nested ``populate`` — never a query per entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.content import sql
from apps.shop.content.models import entries, media
from apps.shop.content.query import Populate
from apps.shop.content.schema import ContentType, Registry
from apps.shop.content.store import read_links

__all__ = ["MEDIA_UID", "Renderer", "render_media"]

#: The uid Strapi gives uploaded files; media attributes link to it.
MEDIA_UID = "plugin::upload.file"


def render_media(row: Row[Any]) -> dict[str, Any]:
    """A media file as Strapi's upload plugin returns it."""
    return {
        "id": row.id,
        "documentId": row.document_id,
        "name": row.name,
        "alternativeText": row.alternative_text,
        "caption": row.caption,
        "width": row.width,
        "height": row.height,
        "formats": None,
        "hash": row.hash,
        "ext": row.ext,
        "mime": row.mime,
        "size": row.size,
        "url": row.url,
        "previewUrl": None,
        "provider": row.provider,
        "provider_metadata": None,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
        "publishedAt": row.created_at,
    }


class Renderer:
    """Turns entry rows of one status into Strapi JSON, populating what the query asks for."""

    def __init__(self, session: AsyncSession, registry: Registry, *, status: str, default_locale: str) -> None:
        self.session = session
        self.registry = registry
        self.status = status
        self.default_locale = default_locale

    def base(self, ctype: ContentType, row: Row[Any], fields: Sequence[str] | None) -> dict[str, Any]:
        """The entry's own fields (``fields`` limits them; ``id`` and ``documentId`` are always there)."""
        out: dict[str, Any] = {"id": row.id, "documentId": row.document_id}
        data = row.data
        for name, attribute in ctype.attributes.items():
            if attribute.private or attribute.is_populatable or (fields is not None and name not in fields):
                continue
            out[name] = data.get(name)
        system = {"createdAt": row.created_at, "updatedAt": row.updated_at, "publishedAt": row.published_at}
        if ctype.localized:
            system["locale"] = row.locale
        for name, value in system.items():
            if fields is None or name in fields:
                out[name] = value
        return out

    async def render(
        self,
        ctype: ContentType,
        rows: Sequence[Row[Any]],
        *,
        fields: Sequence[str] | None = None,
        populate: Mapping[str, Populate] | None = None,
    ) -> list[dict[str, Any]]:
        """``rows`` as Strapi JSON objects, in order."""
        rendered = [self.base(ctype, row, fields) for row in rows]
        if populate:
            await self._populate(ctype, rows, rendered, populate)
        return rendered

    async def _populate(
        self,
        ctype: ContentType,
        rows: Sequence[Row[Any]],
        rendered: list[dict[str, Any]],
        populate: Mapping[str, Populate],
    ) -> None:
        linked = [n for n in populate if ctype.attributes[n].is_relation]
        by_entry: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for link in await read_links(self.session, [r.id for r in rows], linked):
            by_entry[link.entry_id][link.field].append(link.target_document_id)
        resolved: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        order: dict[str, list[tuple[str, str]]] = {}
        for name in linked:
            attribute = ctype.attributes[name]
            wanted = {
                (doc, self._target_locale(ctype, attribute.target, row.locale))
                for row in rows
                for doc in by_entry[row.id].get(name, [])
            }
            if attribute.type == "media":
                resolved[name] = await self._media({doc for doc, _ in wanted})
            else:
                resolved[name], order[name] = await self._targets(attribute.target or "", wanted, populate[name])
        for row, out in zip(rows, rendered, strict=True):
            for name, spec in populate.items():
                attribute = ctype.attributes[name]
                if attribute.is_relation:
                    locale_of = self._target_locale(ctype, attribute.target, row.locale)
                    found = [resolved[name].get((doc, locale_of)) for doc in by_entry[row.id].get(name, [])]
                    items = [item for item in found if item is not None]
                    if spec.sort and name in order:
                        rank = {key: i for i, key in enumerate(order[name])}
                        items.sort(key=lambda item: rank.get((item["documentId"], locale_of), 0))
                    out[name] = items if attribute.to_many else (items[0] if items else None)
                else:
                    # Components and dynamic zones are stored inline; populating them just shows them.
                    value = row.data.get(name)
                    out[name] = value if value is not None else ([] if attribute.to_many else None)

    def _target_locale(self, ctype: ContentType, target_uid: str | None, locale: str) -> str:
        target = self.registry.types.get(target_uid or "")
        if target is None or not target.localized:
            return ""
        return locale if ctype.localized else self.default_locale

    async def _media(self, document_ids: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
        if not document_ids:
            return {}
        rows = (await self.session.execute(select(media).where(media.c.document_id.in_(document_ids)))).all()
        return {(row.document_id, ""): render_media(row) for row in rows}

    async def _targets(
        self, uid: str, wanted: set[tuple[str, str]], spec: Populate
    ) -> tuple[dict[tuple[str, str], dict[str, Any]], list[tuple[str, str]]]:
        if not wanted:
            return {}, []
        target = self.registry.types[uid]
        status = self.status if target.draft_and_publish else "published"
        query = select(entries).where(
            entries.c.type_uid == uid,
            entries.c.status == status,
            entries.c.document_id.in_({doc for doc, _ in wanted}),
            entries.c.locale.in_({locale for _, locale in wanted}),
        )
        scope = sql.Scope(
            entries, target, self.registry, status, self.default_locale, self.session.get_bind().dialect.name
        )
        if spec.filters:
            query = query.where(sql.where(scope, spec.filters))
        rows = [r for r in (await self.session.execute(query.order_by(*sql.order_by(scope, spec.sort)))).all()]
        rows = [r for r in rows if (r.document_id, r.locale) in wanted]
        nested = Renderer(self.session, self.registry, status=status, default_locale=self.default_locale)
        rendered = await nested.render(target, rows, fields=spec.fields, populate=spec.populate)
        keys = [(r.document_id, r.locale) for r in rows]
        return dict(zip(keys, rendered, strict=True)), keys
