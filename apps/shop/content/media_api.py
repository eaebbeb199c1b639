"""The media library, shaped like Strapi's upload plugin: files that media attributes link to.

Files are *registered by URL* (an external provider, as with Strapi's S3 or Cloudinary providers) rather than
uploaded as multipart bodies: ``POST /api/upload`` takes ``{"url", "name", "mime", "size", "width", "height",
"fileInfo": {"alternativeText", "caption"}}``; ``POST /api/upload?id=<id>`` updates ``fileInfo``; ``GET
/api/upload/files[/:id]`` and ``DELETE /api/upload/files/:id`` as in Strapi. Each change sends
``media.create``/``media.update``/``media.delete`` like Strapi's webhooks, and the same CloudEvents.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from apps.shop.content.caching import json_response
from apps.shop.content.changes import webhook_payload
from apps.shop.content.models import links, media
from apps.shop.content.problems import ContentNotFound, ValidationFailed
from apps.shop.content.render import MEDIA_UID, render_media
from apps.shop.content.service import hub, service
from apps.shop.content.store import new_document_id, now_iso
from baton.kit import SessionDep

__all__: list[str] = []


def _fail(message: str) -> ValidationFailed:
    return ValidationFailed([{"path": [], "message": message, "name": "ValidationError"}])


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise _fail("the body must be JSON") from exc
    if not isinstance(body, dict):
        raise _fail("the body must be a JSON object")
    return body


async def _announce(session: AsyncSession, event: str, row: Any) -> None:
    assert hub.announcer is not None
    await hub.announcer.publish(
        session, webhook_payload(event, model=None, uid=None, item=render_media(row)), subject=row.document_id
    )


async def _row(session: AsyncSession, file_id: int) -> Any:
    row = (await session.execute(select(media).where(media.c.id == file_id))).first()
    if row is None:
        raise ContentNotFound()
    return row


@service.post("/api/upload", include_in_schema=False)
async def upload(request: Request, session: SessionDep) -> Response:
    """Register a file (``?id=`` updates an existing file's ``fileInfo`` instead)."""
    hub.tokens.identify(request.headers.get("authorization")).require("create", "upload")
    body = await _body(request)
    info = body.get("fileInfo") or {}
    now = now_iso()
    target = request.query_params.get("id")
    if target is not None:
        row = await _row(session, int(target) if target.isdigit() else -1)
        await session.execute(
            update(media)
            .where(media.c.id == row.id)
            .values(
                name=info.get("name", row.name),
                alternative_text=info.get("alternativeText", row.alternative_text),
                caption=info.get("caption", row.caption),
                updated_at=now,
            )
        )
        row = await _row(session, row.id)
        await _announce(session, "media.update", row)
        return json_response(request, render_media(row))
    url, mime = body.get("url"), body.get("mime")
    if not isinstance(url, str) or not isinstance(mime, str):
        raise _fail('a file needs "url" and "mime"')
    name = str(info.get("name") or body.get("name") or posixpath.basename(url))
    values = {
        "document_id": new_document_id(),
        "name": name,
        "alternative_text": info.get("alternativeText"),
        "caption": info.get("caption"),
        "width": body.get("width"),
        "height": body.get("height"),
        "hash": hashlib.sha256(url.encode()).hexdigest()[:32],
        "ext": posixpath.splitext(name)[1],
        "mime": mime,
        "size": float(body.get("size") or 0),
        "url": url,
        "provider": "url",
        "created_at": now,
        "updated_at": now,
    }
    file_id = (await session.execute(insert(media).values(**values).returning(media.c.id))).scalar_one()
    row = await _row(session, int(file_id))
    await _announce(session, "media.create", row)
    # Strapi's upload answers a list: one object per uploaded file.
    return json_response(request, [render_media(row)], status=201)


@service.get("/api/upload/files", include_in_schema=False)
async def list_files(request: Request, session: SessionDep) -> Response:
    """Every file, oldest first."""
    hub.tokens.identify(request.headers.get("authorization")).require("find", "upload")
    rows = (await session.execute(select(media).order_by(media.c.id))).all()
    return json_response(request, [render_media(r) for r in rows], cache="private, max-age=0, must-revalidate")


@service.get("/api/upload/files/{file_id}", include_in_schema=False)
async def get_file(file_id: int, request: Request, session: SessionDep) -> Response:
    """One file."""
    hub.tokens.identify(request.headers.get("authorization")).require("findOne", "upload")
    return json_response(
        request, render_media(await _row(session, file_id)), cache="private, max-age=0, must-revalidate"
    )


@service.delete("/api/upload/files/{file_id}", include_in_schema=False)
async def delete_file(file_id: int, request: Request, session: SessionDep) -> Response:
    """Delete a file and unlink it from every entry; answers the deleted file, as Strapi does."""
    hub.tokens.identify(request.headers.get("authorization")).require("delete", "upload")
    row = await _row(session, file_id)
    await session.execute(
        delete(links).where(links.c.target_uid == MEDIA_UID, links.c.target_document_id == row.document_id)
    )
    await session.execute(delete(media).where(media.c.id == row.id))
    await _announce(session, "media.delete", row)
    return json_response(request, render_media(row))
