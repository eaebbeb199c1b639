"""Admin routes (full-access token): publish/unpublish actions and webhook management.

The paths follow Strapi's admin API where one exists — ``POST /content-manager/collection-types/:uid/:documentId
/actions/publish`` (and ``unpublish``), ``GET/POST /admin/webhooks`` — so tooling written against Strapi's admin
finds them; the REST Content API itself (``/api``) only publishes through writes, as Strapi's does.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import delete, select
from starlette.responses import Response

from apps.shop.content.caching import json_response
from apps.shop.content.changes import configure_webhooks
from apps.shop.content.models import deliveries, webhooks
from apps.shop.content.problems import ContentNotFound, InvalidQuery, ValidationFailed
from apps.shop.content.query import parse_locale
from apps.shop.content.service import dispatcher, hub, service
from baton.content import qs
from baton.kit import SessionDep

__all__: list[str] = []


def _admin(request: Request) -> None:
    hub.tokens.identify(request.headers.get("authorization")).require("publish", "*")


@service.post("/content-manager/{kind}/{uid}/{document_id}/actions/{action}", include_in_schema=False)
async def document_action(
    kind: str, uid: str, document_id: str, action: str, request: Request, session: SessionDep
) -> Response:
    """Publish or unpublish one locale of a document (``?locale=``, default locale when absent)."""
    _admin(request)
    ctype = hub.registry.types.get(uid)
    if ctype is None or kind not in ("collection-types", "single-types") or action not in ("publish", "unpublish"):
        raise ContentNotFound()
    if not ctype.draft_and_publish:
        raise InvalidQuery(f"{ctype.uid} does not have draft & publish", key="action", param="action")
    try:
        raw_locale = qs.parse(request.url.query).get("locale")
    except qs.QueryStringError as exc:
        raise InvalidQuery(exc.message, key="query", param="query") from exc
    locale = parse_locale(ctype, raw_locale, hub.limits) or ""
    if action == "publish":
        entry = await hub.documents.publish(session, ctype, document_id, locale=locale)
    else:
        entry = await hub.documents.unpublish(session, ctype, document_id, locale=locale)
    return json_response(request, {"data": entry, "meta": {}})


def _webhook(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "url": row.url,
        "headers": row.headers,
        "events": row.events,
        "isEnabled": row.enabled,
    }


@service.get("/admin/webhooks", include_in_schema=False)
async def list_webhooks(request: Request, session: SessionDep) -> Response:
    """The configured webhooks."""
    _admin(request)
    rows = (await session.execute(select(webhooks).order_by(webhooks.c.id))).all()
    return json_response(request, {"data": [_webhook(r) for r in rows]})


@service.post("/admin/webhooks", include_in_schema=False)
async def create_webhook(request: Request, session: SessionDep) -> Response:
    """Create (or replace, by name) a webhook: ``{name, url, headers, events, isEnabled}``."""
    _admin(request)
    try:
        body = orjson.loads(await request.body())
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        await configure_webhooks(session, [{**body, "enabled": body.get("isEnabled", True)}])
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed([{"path": [], "message": str(exc), "name": "ValidationError"}]) from exc
    row = (await session.execute(select(webhooks).where(webhooks.c.name == body["name"]))).one()
    return json_response(request, {"data": _webhook(row)}, status=201)


@service.delete("/admin/webhooks/{webhook_id}", include_in_schema=False)
async def delete_webhook(webhook_id: int, request: Request, session: SessionDep) -> Response:
    """Remove a webhook and its pending deliveries."""
    _admin(request)
    await session.execute(delete(deliveries).where(deliveries.c.webhook_id == webhook_id))
    result = await session.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
    if getattr(result, "rowcount", 0) != 1:
        raise ContentNotFound()
    return Response(status_code=204)


@service.get("/admin/webhooks/deliveries", include_in_schema=False)
async def list_deliveries(request: Request, session: SessionDep) -> Response:
    """Deliveries, newest first, optionally by ``?status=pending|delivered|dead`` (dead = the dead letters)."""
    _admin(request)
    query = select(deliveries).order_by(deliveries.c.created_at.desc()).limit(200)
    status = request.query_params.get("status")
    if status:
        query = query.where(deliveries.c.status == status)
    rows = (await session.execute(query)).all()
    dispatcher.wake()
    body = [
        {
            "id": r.id,
            "webhookId": r.webhook_id,
            "event": r.event,
            "status": r.status,
            "attempts": r.attempts,
            "lastError": r.last_error,
            "payload": orjson.loads(r.payload),
        }
        for r in rows
    ]
    return json_response(request, {"data": body})
