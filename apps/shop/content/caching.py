"""HTTP caching of Content API reads: a strong ``ETag`` on every JSON answer and ``If-None-Match`` → 304.

``Cache-Control`` says who may keep the answer: ``public`` for what the public role reads (a CDN may keep it
for ``CONTENT_CACHE_MAX_AGE`` seconds, 0 by default: content changes are pushed as events, so caches revalidate
and a 304 costs no body), ``private`` for token holders, ``no-store`` for drafts, which must never linger.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["cache_control", "json_response"]


def cache_control(*, public: bool, draft: bool, max_age: int) -> str:
    """The ``Cache-Control`` of a read answer."""
    if draft:
        return "no-store"
    scope = "public" if public else "private"
    return f"{scope}, max-age={max_age}, must-revalidate"


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def json_response(request: Request, body: Any, *, status: int = 200, cache: str | None = None) -> Response:
    """``body`` as JSON; a GET with a ``cache`` policy gets an ETag and may be answered 304."""
    content = orjson.dumps(body)
    if cache is None or request.method != "GET":
        return Response(content, status_code=status, media_type="application/json")
    etag = '"' + hashlib.blake2b(content, digest_size=16).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": cache, "Vary": "Authorization"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(content, status_code=status, media_type="application/json", headers=headers)
