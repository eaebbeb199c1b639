"""Errors of the Content API, answered in Strapi's own shape rather than problem+json.

A client written for Strapi reads ``error.status``, ``error.name`` and ``error.message`` from::

    {"data": null, "error": {"status": 400, "name": "ValidationError", "message": "Invalid key foo",
                             "details": {"key": "foo", "path": "foo", "source": "query", "param": "filters"}}}

so every error the ``/api`` routes raise is a :class:`ContentApiError` rendered by :func:`strapi_error_response`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from baton.errors import BatonError

__all__ = [
    "ContentApiError",
    "ContentForbidden",
    "ContentNotFound",
    "ContentUnauthorized",
    "InvalidQuery",
    "ValidationFailed",
    "strapi_error_response",
]


class ContentApiError(BatonError):
    """Base of the errors the Content API answers in Strapi's error shape."""

    status = 400
    name: ClassVar[str] = "ApplicationError"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details

    def body(self) -> dict[str, Any]:
        """The Strapi error document."""
        return {
            "data": None,
            "error": {"status": self.status, "name": self.name, "message": self.message, "details": self.details},
        }


class InvalidQuery(ContentApiError):
    """Raised when a query parameter (filters, populate, fields, sort, pagination, locale, status) is invalid."""

    name = "ValidationError"
    title = "Invalid query"

    def __init__(self, message: str, *, key: str, param: str) -> None:
        super().__init__(message, key=key, path=key, source="query", param=param)


class ValidationFailed(ContentApiError):
    """Raised when a request body does not satisfy the content type (``details.errors`` lists every problem)."""

    name = "ValidationError"
    title = "Invalid content"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        count = len(errors)
        message = errors[0]["message"] if count == 1 else f"{count} errors occurred"
        super().__init__(message, errors=errors)


class ContentNotFound(ContentApiError):
    """Raised when no document (in the asked locale and status) has the given ``documentId``."""

    status = 404
    name = "NotFoundError"
    title = "Not Found"

    def __init__(self, message: str = "Not Found") -> None:
        super().__init__(message)


class ContentUnauthorized(ContentApiError):
    """Raised when a bearer token is present but unknown (a missing token means the public role)."""

    status = 401
    name = "UnauthorizedError"
    title = "Unauthorized"

    def __init__(self, message: str = "Missing or invalid credentials") -> None:
        super().__init__(message)


class ContentForbidden(ContentApiError):
    """Raised when the token's type (or the public role) does not allow the action."""

    status = 403
    name = "ForbiddenError"
    title = "Forbidden"

    def __init__(self, message: str = "Forbidden") -> None:
        super().__init__(message)


def strapi_error_response(_: Request, exc: Exception) -> Response:
    """Exception handler: a :class:`ContentApiError` as Strapi's JSON error document."""
    assert isinstance(exc, ContentApiError)
    return Response(orjson.dumps(exc.body()), status_code=exc.status, media_type="application/json")
