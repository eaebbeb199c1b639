"""The Content API as Strapi v5 serves it: thin adapters from ``/api/...`` to the document service.

Collection types: ``GET/POST /api/:pluralApiId``, ``GET/PUT/DELETE /api/:pluralApiId/:documentId``. Single types:
``GET/PUT/DELETE /api/:singularApiId``. Answers are ``{data, meta}`` (``meta.pagination`` on lists), errors
Strapi's ``{data: null, error}``; reads carry an ``ETag`` and ``Cache-Control``. The query string is read with
``qs`` semantics (:mod:`baton.content.qs`), not FastAPI's parameters, because Strapi's parameters are nested.
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson
from fastapi import Request
from starlette.responses import Response

# Registers /api/upload... before the generic /api/{api_id} routes below, which would otherwise match it.
from apps.shop.content import media_api  # noqa: F401
from apps.shop.content.access import Access
from apps.shop.content.caching import cache_control, json_response
from apps.shop.content.problems import ContentNotFound, InvalidQuery, ValidationFailed
from apps.shop.content.query import Query, parse_locale, parse_query, parse_status
from apps.shop.content.schema import ContentType
from apps.shop.content.service import hub, service
from baton.content import qs
from baton.kit import SessionDep

__all__ = ["access_of", "params_of", "read_body"]


def access_of(request: Request) -> Access:
    """The caller's rights, from its ``Authorization`` header."""
    return hub.tokens.identify(request.headers.get("authorization"))


def params_of(request: Request) -> dict[str, Any]:
    """The nested query parameters.

    Raises:
        InvalidQuery: the query string is malformed.
    """
    try:
        return qs.parse(request.url.query)
    except qs.QueryStringError as exc:
        raise InvalidQuery(exc.message, key="query", param="query") from exc


async def read_body(request: Request) -> Any:
    """The ``data`` object of a write request.

    Raises:
        ValidationFailed: the body is not JSON or has no ``data`` object.
    """
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        problem = {"path": [], "message": 'Missing "data" payload in the request body', "name": "ValidationError"}
        raise ValidationFailed([problem])
    return body["data"]


def _cache(access: Access, query: Query) -> str:
    return cache_control(public=access.is_public, draft=query.status == "draft", max_age=hub.settings.cache_max_age)


def _read_query(request: Request, ctype: ContentType, access: Access, *, single: bool) -> Query:
    query = parse_query(ctype, hub.registry, params_of(request), hub.limits, single=single)
    access.require(
        "findOne" if single else "find", ctype.singular if ctype.is_single else ctype.plural, status=query.status
    )
    return query


def _write_target(request: Request, ctype: ContentType) -> tuple[str, str]:
    params = params_of(request)
    locale = parse_locale(ctype, params.get("locale"), hub.limits)
    return locale or "", parse_status(ctype, params.get("status"))


@service.get("/api/i18n/locales", include_in_schema=False)
async def list_locales(request: Request) -> Response:
    """The hub's locales, as Strapi's i18n plugin lists them."""
    access_of(request)
    body = [
        {"id": i + 1, "documentId": code, "name": code, "code": code, "isDefault": i == 0}
        for i, code in enumerate(hub.limits.locales)
    ]
    return json_response(request, body, cache="public, max-age=60")


@service.get("/api/{api_id}", include_in_schema=False)
async def find(api_id: str, request: Request, session: SessionDep) -> Response:
    """``find`` on a collection type, or the document of a single type."""
    ctype = hub.content_type(api_id)
    access = access_of(request)
    query = _read_query(request, ctype, access, single=ctype.is_single)
    if ctype.is_single:
        document_id = await hub.documents.single_id(session, ctype)
        if document_id is None:
            raise_not_found()
        entry = await hub.documents.find_one(session, ctype, str(document_id), query)
        return json_response(request, {"data": entry, "meta": {}}, cache=_cache(access, query))
    data, pagination = await hub.documents.find(session, ctype, query)
    return json_response(request, {"data": data, "meta": {"pagination": pagination}}, cache=_cache(access, query))


@service.get("/api/{api_id}/{document_id}", include_in_schema=False)
async def find_one(api_id: str, document_id: str, request: Request, session: SessionDep) -> Response:
    """``findOne``: one document by ``documentId`` in the asked locale and status."""
    ctype = hub.content_type(api_id)
    if ctype.is_single:
        raise_not_found()
    access = access_of(request)
    query = _read_query(request, ctype, access, single=True)
    entry = await hub.documents.find_one(session, ctype, document_id, query)
    return json_response(request, {"data": entry, "meta": {}}, cache=_cache(access, query))


@service.post("/api/{api_id}", include_in_schema=False)
async def create(api_id: str, request: Request, session: SessionDep) -> Response:
    """``create``: a new document (published unless ``?status=draft``)."""
    ctype = hub.content_type(api_id)
    if ctype.is_single:
        raise_not_found()
    access_of(request).require("create", ctype.plural)
    locale, status = _write_target(request, ctype)
    entry = await hub.documents.create(session, ctype, await read_body(request), locale=locale, status=status)
    return json_response(request, {"data": entry, "meta": {}}, status=201)


async def _update(ctype: ContentType, document_id: str | None, request: Request, session: SessionDep) -> Response:
    locale, status = _write_target(request, ctype)
    data = await read_body(request)
    if document_id is None:
        entry = await hub.documents.create(session, ctype, data, locale=locale, status=status)
    else:
        entry = await hub.documents.update(session, ctype, document_id, data, locale=locale, status=status)
    return json_response(request, {"data": entry, "meta": {}})


@service.put("/api/{api_id}", include_in_schema=False)
async def update_single(api_id: str, request: Request, session: SessionDep) -> Response:
    """``update`` of a single type (created on first write)."""
    ctype = hub.content_type(api_id)
    if not ctype.is_single:
        raise_not_found()
    access_of(request).require("update", ctype.singular)
    return await _update(ctype, await hub.documents.single_id(session, ctype), request, session)


@service.put("/api/{api_id}/{document_id}", include_in_schema=False)
async def update(api_id: str, document_id: str, request: Request, session: SessionDep) -> Response:
    """``update``: change (or add) the locale version of a document, published unless ``?status=draft``."""
    ctype = hub.content_type(api_id)
    if ctype.is_single:
        raise_not_found()
    access_of(request).require("update", ctype.plural)
    return await _update(ctype, document_id, request, session)


async def _delete(ctype: ContentType, document_id: str, request: Request, session: SessionDep) -> Response:
    raw = params_of(request).get("locale")
    locale = None if raw == "*" else parse_locale(ctype, raw, hub.limits)
    await hub.documents.delete(session, ctype, document_id, locale=locale)
    return Response(status_code=204)


@service.delete("/api/{api_id}", include_in_schema=False)
async def delete_single(api_id: str, request: Request, session: SessionDep) -> Response:
    """``delete`` of a single type's document."""
    ctype = hub.content_type(api_id)
    if not ctype.is_single:
        raise_not_found()
    access_of(request).require("delete", ctype.singular)
    document_id = await hub.documents.single_id(session, ctype)
    if document_id is None:
        raise_not_found()
    return await _delete(ctype, str(document_id), request, session)


@service.delete("/api/{api_id}/{document_id}", include_in_schema=False)
async def delete(api_id: str, document_id: str, request: Request, session: SessionDep) -> Response:
    """``delete``: remove a document in the asked locale (``?locale=*``: in every locale); 204."""
    ctype = hub.content_type(api_id)
    if ctype.is_single:
        raise_not_found()
    access_of(request).require("delete", ctype.plural)
    return await _delete(ctype, document_id, request, session)


def raise_not_found() -> NoReturn:
    """Answer Strapi's 404."""
    raise ContentNotFound()
