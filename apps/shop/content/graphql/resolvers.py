"""GraphQL resolvers: arguments turned into the Strapi query the REST API would get, then the same document service.

``filters: {title: {containsi: "x"}, or: [...]}`` becomes ``{"title": {"$containsi": "x"}, "$or": [...]}`` and goes
through :func:`~apps.shop.content.query.parse_query` like a REST query string — one validation, one SQL compiler,
so GraphQL and REST return the same entries for the same question. Resolved entries are namespaces over the
REST JSON (``id`` is the entry's row id, which relation fields use to follow links).

Resolvers share the request's database session; graphql-core runs sibling fields concurrently, and one
``AsyncSession`` must not be, so database work takes the request's lock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import types
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from apps.shop.content.access import Access
from apps.shop.content.documents import Documents
from apps.shop.content.graphql.types import DeleteMutationResponse, Pagination, UploadFile
from apps.shop.content.models import media as media_table
from apps.shop.content.query import QueryLimits, parse_locale, parse_query, parse_status
from apps.shop.content.schema import ContentType, Registry
from apps.shop.content.store import read_links

__all__ = [
    "GraphQLContext",
    "connection",
    "create",
    "delete",
    "find",
    "find_one",
    "find_single",
    "media",
    "relation",
    "update",
]

Resolver = Callable[..., Awaitable[Any]]


@dataclass
class GraphQLContext:
    """What resolvers need: the hub's services, the caller's access and the request's session."""

    registry: Registry
    limits: QueryLimits
    documents: Documents
    access: Access
    session: AsyncSession
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


def _ctx(info: strawberry.Info) -> GraphQLContext:
    context: GraphQLContext = info.context
    return context


def strapi_filters(value: Any) -> Any:
    """A filter input object as a Strapi filter tree (``and`` → ``$and``, ``eq`` → ``$eq``; nulls dropped)."""
    if isinstance(value, list):
        return [strapi_filters(v) for v in value if v is not None]
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value.value if hasattr(value, "value") and not isinstance(value, str) else value
    out: dict[str, Any] = {}
    for item in dataclasses.fields(value):
        raw = getattr(value, item.name)
        if raw is None:
            continue
        key = item.name.rstrip("_")
        operator = key in _OPERATORS
        out[("$" + key) if operator else key] = strapi_filters(raw)
    return out


_OPERATORS = frozenset(
    {
        "and", "or", "not", "eq", "eqi", "ne", "nei", "lt", "lte", "gt", "gte", "in", "notIn", "contains",
        "notContains", "containsi", "notContainsi", "startsWith", "startsWithi", "endsWith", "endsWithi", "null",
        "notNull", "between",
    }
)  # fmt: skip


def _params(filters: Any, pagination: Any, sort: Any, status: Any, locale: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if filters is not None:
        params["filters"] = strapi_filters(filters)
    if pagination is not None:
        params["pagination"] = {k: str(v) for k, v in dataclasses.asdict(pagination).items() if v is not None}
    if sort:
        params["sort"] = list(sort)
    if status is not None:
        params["status"] = status.value
    if locale is not None:
        params["locale"] = locale
    return params


def entry_object(entry: Mapping[str, Any], *, status: str) -> types.SimpleNamespace:
    """A resolved entry: attribute access over the REST JSON, plus the status its relations follow."""
    return types.SimpleNamespace(**entry, _status=status)


def find(ctype: ContentType) -> Resolver:
    """``articles(filters, pagination, sort, status, locale)``."""

    async def resolve(root: Any, info: strawberry.Info, **args: Any) -> list[Any]:
        nodes, _ = await _find(ctype, info, args)
        return nodes

    return resolve


async def _find(ctype: ContentType, info: strawberry.Info, args: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    ctx = _ctx(info)
    query = parse_query(ctype, ctx.registry, _params(**args), ctx.limits)
    ctx.access.require("find", ctype.plural, status=query.status)
    async with ctx.lock:
        data, meta = await ctx.documents.find(ctx.session, ctype, query)
    return [entry_object(e, status=query.status) for e in data], meta


def connection(ctype: ContentType, collection: type) -> Resolver:
    """``articles_connection``: the nodes and ``pageInfo``."""

    async def resolve(root: Any, info: strawberry.Info, **args: Any) -> Any:
        nodes, meta = await _find(ctype, info, args)
        page = meta.get("page", 1)
        size = meta.get("pageSize", meta.get("limit", len(nodes)))
        info_ = Pagination(page=page, pageSize=size, pageCount=meta.get("pageCount", 0), total=meta.get("total", 0))
        return collection(nodes=nodes, pageInfo=info_)

    return resolve


def find_one(ctype: ContentType) -> Resolver:
    """``article(documentId, status, locale)``."""

    async def resolve(root: Any, info: strawberry.Info, documentId: str, **args: Any) -> Any:
        ctx = _ctx(info)
        query = parse_query(ctype, ctx.registry, _params(None, None, None, **args), ctx.limits, single=True)
        ctx.access.require("findOne", ctype.plural, status=query.status)
        async with ctx.lock:
            rows, _ = await ctx.documents.find(ctx.session, ctype, _by_id(query, documentId))
        return entry_object(rows[0], status=query.status) if rows else None

    return resolve


def _by_id(query: Any, document_id: str) -> Any:
    return dataclasses.replace(query, filters={"documentId": {"$eq": document_id}})


def find_single(ctype: ContentType) -> Resolver:
    """The document of a single type."""

    async def resolve(root: Any, info: strawberry.Info, **args: Any) -> Any:
        ctx = _ctx(info)
        query = parse_query(ctype, ctx.registry, _params(None, None, None, **args), ctx.limits, single=True)
        ctx.access.require("findOne", ctype.singular, status=query.status)
        async with ctx.lock:
            rows, _ = await ctx.documents.find(ctx.session, ctype, query)
        return entry_object(rows[0], status=query.status) if rows else None

    return resolve


def relation(ctype: ContentType, name: str) -> Resolver:
    """A relation field: the linked entries, in link order unless sorted, filtered by the field's arguments."""
    attribute = ctype.attributes[name]

    async def resolve(root: Any, info: strawberry.Info, **args: Any) -> Any:
        ctx = _ctx(info)
        target = ctx.registry.types[attribute.target or ""]
        async with ctx.lock:
            linked = [link.target_document_id for link in await read_links(ctx.session, [root.id], [name])]
        if not linked:
            return [] if attribute.to_many else None
        locale = getattr(root, "locale", None) if ctype.localized else ctx.limits.default_locale
        params = _params(args.get("filters"), args.get("pagination"), args.get("sort"), None, None)
        params["filters"] = {"$and": [params.get("filters", {}), {"documentId": {"$in": linked}}]}
        params["status"] = root._status
        if target.localized:
            params["locale"] = locale
        query = parse_query(target, ctx.registry, params, ctx.limits)
        async with ctx.lock:
            data, _ = await ctx.documents.find(ctx.session, target, query)
        if not args.get("sort"):
            rank = {doc: i for i, doc in enumerate(linked)}
            data.sort(key=lambda e: rank.get(e["documentId"], 0))
        nodes = [entry_object(e, status=query.status) for e in data]
        return nodes if attribute.to_many else (nodes[0] if nodes else None)

    return resolve


def media(ctype: ContentType, name: str) -> Resolver:
    """A media field: the linked files."""
    attribute = ctype.attributes[name]

    async def resolve(root: Any, info: strawberry.Info) -> Any:
        ctx = _ctx(info)
        async with ctx.lock:
            linked = [link.target_document_id for link in await read_links(ctx.session, [root.id], [name])]
            rows = (await ctx.session.execute(select(media_table).where(media_table.c.document_id.in_(linked)))).all()
        files = {
            r.document_id: UploadFile(
                documentId=strawberry.ID(r.document_id),
                name=r.name,
                alternativeText=r.alternative_text,
                caption=r.caption,
                width=r.width,
                height=r.height,
                mime=r.mime,
                size=r.size,
                url=r.url,
                provider=r.provider,
            )
            for r in rows
        }
        found = [files[d] for d in linked if d in files]
        return found if attribute.to_many else (found[0] if found else None)

    return resolve


def _write_target(ctype: ContentType, ctx: GraphQLContext, status: Any, locale: Any) -> tuple[str, str]:
    resolved_locale = parse_locale(ctype, locale, ctx.limits) or ""
    resolved_status = parse_status(ctype, status.value if status is not None else None)
    return resolved_locale, resolved_status


def create(ctype: ContentType) -> Resolver:
    """``createArticle(data, status, locale)``."""

    async def resolve(root: Any, info: strawberry.Info, data: Any, status: Any = None, locale: Any = None) -> Any:
        ctx = _ctx(info)
        ctx.access.require("create", ctype.plural)
        where, state = _write_target(ctype, ctx, status, locale)
        async with ctx.lock:
            entry = await ctx.documents.create(ctx.session, ctype, data, locale=where, status=state)
        return entry_object(entry, status=state)

    return resolve


def update(ctype: ContentType) -> Resolver:
    """``updateArticle(documentId, data, status, locale)``."""

    async def resolve(
        root: Any,
        info: strawberry.Info,
        documentId: str,
        data: Any,
        status: Any = None,
        locale: Any = None,
    ) -> Any:
        ctx = _ctx(info)
        ctx.access.require("update", ctype.plural)
        where, state = _write_target(ctype, ctx, status, locale)
        async with ctx.lock:
            entry = await ctx.documents.update(ctx.session, ctype, documentId, data, locale=where, status=state)
        return entry_object(entry, status=state)

    return resolve


def delete(ctype: ContentType) -> Resolver:
    """``deleteArticle(documentId, locale)``."""

    async def resolve(root: Any, info: strawberry.Info, documentId: str, locale: Any = None) -> Any:
        ctx = _ctx(info)
        ctx.access.require("delete", ctype.plural)
        where = None if locale == "*" else parse_locale(ctype, locale, ctx.limits)
        async with ctx.lock:
            await ctx.documents.delete(ctx.session, ctype, documentId, locale=where)
        return DeleteMutationResponse(documentId=strawberry.ID(documentId))

    return resolve
