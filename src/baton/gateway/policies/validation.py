"""Request validation: body size (declared, lying or missing Content-Length), content type, JSON depth and
the upstream's OpenAPI request schema.

The header phase (:meth:`Validate.check`) needs no body: a declared ``Content-Length`` above the limit is
refused before a byte of the body is read. The bytes actually received are counted as they stream by the
exchange (a chunked or lying body is cut off at the limit). Depth and schema checks need the whole body:
routes that enable them buffer it (bounded by the limit) and :meth:`Validate.check_body` runs once it is in.
"""

from __future__ import annotations

from typing import Any

import orjson

from baton.gateway.config import ValidationConfig
from baton.gateway.policies.base import RequestInfo, Verdict
from baton.gateway.policies.openapi import OpenApiSchemas
from baton.gateway.responses import Rejection, problem


def json_depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value (scalars 0, ``[]`` 1, ``[[1]]`` 2), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def media_type(headers: dict[bytes, bytes]) -> bytes:
    """The request's media type, lower-case, without parameters."""
    return headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()


def is_json(media: bytes) -> bool:
    """``application/json`` or any ``+json`` type."""
    return media == b"application/json" or media.endswith(b"+json")


class Validate:
    """Policy: size and content type at the headers; depth and schema once the body is in."""

    name = "validation"

    def __init__(self, config: ValidationConfig, *, max_body: int) -> None:
        self.config = config
        self.max_body = config.max_body if config.max_body is not None else max_body
        self.content_types = frozenset(t.lower().encode() for t in config.content_types)
        self.schemas: OpenApiSchemas | None = None
        """Set once the upstream's OpenAPI document is loaded (requests pass unchecked until then)."""
        self.too_large = problem(413, f"request body larger than {self.max_body} bytes", close=True)
        self._unsupported = problem(415, f"content type must be one of: {', '.join(config.content_types)}")

    def check(self, request: RequestInfo) -> Verdict:
        """Refuse a declared body above the limit (413) or an unaccepted content type (415)."""
        if request.content_length is not None and request.content_length > self.max_body:
            return self.too_large
        if self.content_types and request.has_body and media_type(request.headers) not in self.content_types:
            return self._unsupported
        return None

    def check_body(self, request: RequestInfo) -> Verdict:
        """Depth and schema checks on the buffered body (JSON bodies only)."""
        body = request.body
        if not body or not is_json(media_type(request.headers)):
            return None
        limit = self.config.json_depth
        needs_parse = self.schemas is not None or (
            limit is not None and body.count(b"[") + body.count(b"{") > limit  # cheap bound: cannot be deeper
        )
        if not needs_parse:
            return None
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            detail = "JSON nested too deeply" if "recursion" in str(exc) else f"malformed JSON: {exc}"
            return problem(400, detail)
        if limit is not None and json_depth(document) > limit:
            return problem(400, f"JSON nested deeper than {limit} levels")
        if self.schemas is not None:
            error = self.schemas.validate(request.method, request.path, document)
            if error is not None:
                return Rejection(status=400, title="Bad Request", detail=f"request does not match the schema: {error}")
        return None
