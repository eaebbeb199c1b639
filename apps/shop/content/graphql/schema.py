"""A strawberry schema generated from the content types, in the shape of Strapi v5's GraphQL plugin.

For ``article`` (``Article``)::

    type Query {
      articles(filters: ArticleFiltersInput, pagination: PaginationArg, sort: [String], status: PublicationStatus,
               locale: String): [Article]!
      article(documentId: ID!, status: PublicationStatus, locale: String): Article
      articles_connection(...same as articles...): ArticleEntityResponseCollection
    }
    type Mutation {
      createArticle(data: JSON!, status: PublicationStatus, locale: String): Article
      updateArticle(documentId: ID!, data: JSON!, status: PublicationStatus, locale: String): Article
      deleteArticle(documentId: ID!, locale: String): DeleteMutationResponse
    }

Relations are fields with their own ``filters``/``sort``/``pagination``. Arguments become the same Strapi query
the REST API validates (:mod:`apps.shop.content.graphql.resolvers`), so both APIs answer alike. Types are
built with ``type()`` because they exist only once the ``schema.json`` files are read; strawberry resolves the
mutual references (``Article.author`` ↔ ``Author.articles``) when the schema is assembled.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Optional

import strawberry
from strawberry.extensions import AddValidationRules, QueryDepthLimiter
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig

from apps.shop.content.graphql import resolvers
from apps.shop.content.graphql.limits import complexity_rule
from apps.shop.content.graphql.types import (
    SCALAR_FILTERS,
    DeleteMutationResponse,
    IDFilterInput,
    Pagination,
    PaginationArg,
    PublicationStatus,
    UploadFile,
    dynamic_input,
    graphql_scalar,
)
from apps.shop.content.query import QueryLimits
from apps.shop.content.schema import ContentType, Registry

__all__ = ["build_schema", "type_name"]

_KW = inspect.Parameter.KEYWORD_ONLY
# Types built at run time are not static types: spell them through Any-typed aliases (strawberry needs
# real Optional/list objects at run time, not annotation strings).
_OPT: Any = Optional
_LIST: Any = list


def type_name(ctype: ContentType) -> str:
    """``product-blurb`` → ``ProductBlurb``."""
    return "".join(part.capitalize() for part in ctype.singular.split("-"))


def field_name(api_id: str) -> str:
    """``product-blurbs`` → ``productBlurbs``."""
    head, *rest = api_id.split("-")
    return head + "".join(part.capitalize() for part in rest)


def _resolver(fn: Callable[..., Any], returns: Any, params: dict[str, tuple[Any, Any]]) -> Any:
    """A strawberry field around ``fn`` with the signature strawberry reads (``root``, ``info``, arguments)."""
    parameters = [
        inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Any),
        inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info),
    ]
    parameters += [
        inspect.Parameter(name, _KW, default=default, annotation=kind) for name, (kind, default) in params.items()
    ]

    async def resolve(root: Any, info: strawberry.Info, **arguments: Any) -> Any:
        return await fn(root, info, **arguments)

    resolve.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    resolve.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": returns}
    return resolve


def _list_args(filters: Any) -> dict[str, tuple[Any, Any]]:
    return {
        "filters": (_OPT[filters], None),
        "pagination": (_OPT[PaginationArg], None),
        "sort": (_OPT[_LIST[str]], None),
    }


def _read_args() -> dict[str, tuple[Any, Any]]:
    return {"status": (_OPT[PublicationStatus], None), "locale": (_OPT[str], None)}


class _Builder:
    def __init__(self, registry: Registry, limits: QueryLimits) -> None:
        self.registry = registry
        self.limits = limits
        self.objects: dict[str, Any] = {uid: type(type_name(t), (), {}) for uid, t in registry.types.items()}
        self.filters: dict[str, Any] = {
            uid: type(type_name(t) + "FiltersInput", (), {}) for uid, t in registry.types.items()
        }

    def build_filters(self, ctype: ContentType) -> None:
        cls = self.filters[ctype.uid]
        fields: dict[str, Any] = {"documentId": IDFilterInput, "id": IDFilterInput}
        for stamp in ("createdAt", "updatedAt", "publishedAt"):
            fields[stamp] = SCALAR_FILTERS["datetime"]
        if ctype.localized:
            fields["locale"] = SCALAR_FILTERS["string"]
        for name, attribute in ctype.attributes.items():
            if attribute.private:
                continue
            if attribute.type == "relation":
                fields[name] = self.filters[attribute.target or ""]
            elif attribute.type in SCALAR_FILTERS:
                fields[name] = SCALAR_FILTERS[attribute.type]
        fields.update({"and_": _LIST[_OPT[cls]], "or_": _LIST[_OPT[cls]], "not_": cls})
        self.filters[ctype.uid] = dynamic_input(cls, fields)

    def build_object(self, ctype: ContentType) -> None:
        cls = self.objects[ctype.uid]
        annotations: dict[str, Any] = {"documentId": strawberry.ID}
        for stamp in ("createdAt", "updatedAt", "publishedAt"):
            annotations[stamp] = _OPT[str]
        if ctype.localized:
            annotations["locale"] = _OPT[str]
        for name, attribute in ctype.attributes.items():
            if attribute.private:
                continue
            if attribute.type == "relation":
                target = self.objects[attribute.target or ""]
                returns = _LIST[target] if attribute.to_many else _OPT[target]
                args = _list_args(self.filters[attribute.target or ""]) if attribute.to_many else {}
                setattr(cls, name, strawberry.field(resolver=_resolver(resolvers.relation(ctype, name), returns, args)))
            elif attribute.type == "media":
                returns = _LIST[UploadFile] if attribute.to_many else _OPT[UploadFile]
                setattr(cls, name, strawberry.field(resolver=_resolver(resolvers.media(ctype, name), returns, {})))
            else:
                annotations[name] = _OPT[graphql_scalar(attribute.type)]
        cls.__annotations__ = annotations
        self.objects[ctype.uid] = strawberry.type(cls, description=ctype.display_name)

    def query_fields(self, ctype: ContentType, out: dict[str, Any]) -> None:
        obj, filters = self.objects[ctype.uid], self.filters[ctype.uid]
        if ctype.is_single:
            out[field_name(ctype.singular)] = strawberry.field(
                resolver=_resolver(resolvers.find_single(ctype), _OPT[obj], _read_args())
            )
            return
        args = {**_list_args(filters), **_read_args()}
        collection = strawberry.type(
            type(
                type_name(ctype) + "EntityResponseCollection",
                (),
                {"__annotations__": {"nodes": _LIST[obj], "pageInfo": Pagination}},
            )
        )
        plural = field_name(ctype.plural)
        out[plural] = strawberry.field(resolver=_resolver(resolvers.find(ctype), _LIST[obj], args))
        out[plural + "_connection"] = strawberry.field(
            resolver=_resolver(resolvers.connection(ctype, collection), collection, args)
        )
        one_args = {"documentId": (strawberry.ID, inspect.Parameter.empty), **_read_args()}
        out[field_name(ctype.singular)] = strawberry.field(
            resolver=_resolver(resolvers.find_one(ctype), _OPT[obj], one_args)
        )

    def mutation_fields(self, ctype: ContentType, out: dict[str, Any]) -> None:
        obj, name = self.objects[ctype.uid], type_name(ctype)
        write = {"data": (JSON, inspect.Parameter.empty), **_read_args()}
        document = {"documentId": (strawberry.ID, inspect.Parameter.empty)}
        out["create" + name] = strawberry.field(resolver=_resolver(resolvers.create(ctype), _OPT[obj], write))
        out["update" + name] = strawberry.field(
            resolver=_resolver(resolvers.update(ctype), _OPT[obj], {**document, **write})
        )
        out["delete" + name] = strawberry.field(
            resolver=_resolver(
                resolvers.delete(ctype), _OPT[DeleteMutationResponse], {**document, "locale": (_OPT[str], None)}
            )
        )


def build_schema(
    registry: Registry, limits: QueryLimits, *, max_depth: int = 8, max_complexity: int = 5000
) -> strawberry.Schema:
    """The GraphQL schema of ``registry``'s content types, with depth and complexity limits."""
    builder = _Builder(registry, limits)
    for ctype in registry.types.values():
        builder.build_filters(ctype)
    for ctype in registry.types.values():
        builder.build_object(ctype)
    queries: dict[str, Any] = {}
    mutations: dict[str, Any] = {}
    for ctype in sorted(registry.types.values(), key=lambda t: t.singular):
        builder.query_fields(ctype, queries)
        builder.mutation_fields(ctype, mutations)
    query = strawberry.type(type("Query", (), queries))
    mutation = strawberry.type(type("Mutation", (), mutations))
    # Strapi's GraphQL plugin keeps field names as declared (no camel-casing of attribute names).
    rule = complexity_rule(max_complexity, default_page_size=limits.default_page_size)
    extensions: list[Any] = [lambda: QueryDepthLimiter(max_depth=max_depth), lambda: AddValidationRules([rule])]
    return strawberry.Schema(
        query=query, mutation=mutation, config=StrawberryConfig(auto_camel_case=False), extensions=extensions
    )
