"""RFC 9457 problem details: every error a service answers is ``application/problem+json``.

Body members: ``type``, ``title``, ``status``, ``detail``, ``instance`` (the request path), ``correlation_id``
and, for validation errors, ``errors`` (one entry per invalid field: ``field``, ``location``, ``message``,
``code``). Input values are never echoed back: they may hold secrets.

:func:`install_problem_handlers` maps ``HTTPException``, ``RequestValidationError`` and every
:class:`~baton.errors.BatonError` (status and title from its class). Unhandled exceptions are caught one
level further out, by :class:`~baton.kit.middleware.errors.ProblemMiddleware`, which logs the traceback and
answers a bare 500 problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from baton.errors import BatonError
from baton.telemetry.context import get_correlation_id

__all__ = [
    "PROBLEM_JSON",
    "ProblemResponse",
    "install_problem_handlers",
    "problem_body",
    "problem_response",
    "problem_type",
]

PROBLEM_JSON = "application/problem+json"
_TYPE_PREFIX = "urn:baton:problem:"


class ProblemResponse(Response):
    """A response whose body is a problem document (media type ``application/problem+json``)."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        """Serialise the problem document."""
        return orjson.dumps(content)


def problem_type(error: type[BaseException] | str) -> str:
    """The problem ``type`` URI for an error class (``CircuitOpen`` → ``urn:baton:problem:circuit-open``)."""
    name = error if isinstance(error, str) else error.__name__
    return _TYPE_PREFIX + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem_body(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type: str = "about:blank",
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """A problem document; ``title`` defaults to the status phrase, ``correlation_id`` to the current one."""
    body: dict[str, Any] = {
        "type": type,
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
        "instance": instance,
        "correlation_id": get_correlation_id(),
    }
    if errors is not None:
        body["errors"] = list(errors)
    body.update(extensions)
    return body


def problem_response(
    status: int,
    *,
    headers: Mapping[str, str] | None = None,
    **members: Any,
) -> ProblemResponse:
    """A :class:`ProblemResponse`; ``members`` are passed to :func:`problem_body`."""
    return ProblemResponse(problem_body(status, **members), status_code=status, headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        location = loc[0] if loc else "request"
        out.append(
            {
                "field": ".".join(loc[1:]) or location,
                "location": location,
                "message": error.get("msg", "invalid"),
                "code": error.get("type", "invalid"),
            }
        )
    return out


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # A plain ``HTTPException(404)`` carries the status phrase as detail; repeating it adds nothing.
    detail = exc.detail if exc.detail != _phrase(exc.status_code) else None
    return problem_response(
        exc.status_code,
        detail=str(detail) if detail is not None else None,
        instance=request.url.path,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem_response(
        422,
        type=problem_type("ValidationError"),
        title="Request validation failed",
        detail=f"invalid fields: {fields}" if fields else None,
        instance=request.url.path,
        errors=errors,
    )


async def _baton_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BatonError)
    headers = {"Retry-After": "1"} if exc.retryable and exc.status in (429, 503) else None
    return problem_response(
        exc.status,
        type=problem_type(type(exc)),
        title=exc.title,
        detail=exc.message if exc.message != exc.title else None,
        instance=request.url.path,
        headers=headers,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Answer ``HTTPException``, validation errors and every ``BatonError`` with problem+json."""
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BatonError, _baton_error)
