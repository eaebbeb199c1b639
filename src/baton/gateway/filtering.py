"""Response filtering: fields marked internal are stripped, and stack traces never reach a client.

Internal fields (config ``filter.internal_fields`` plus ``x-internal: true`` in the upstream's OpenAPI) are
removed from JSON answers wherever they appear. Error answers (5xx) are always inspected: keys that carry
stack traces are dropped, and a body that still looks like a traceback (or is not JSON at all) is replaced by
a plain problem+json that keeps the status and the correlation id, so the client can quote it to support.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import orjson

from baton.gateway.responses import PROBLEM_JSON

TRACE_KEYS = frozenset({"traceback", "stacktrace", "stack_trace", "stack", "exc_info", "exception", "trace_back"})
"""Keys whose values are stack traces in common frameworks' error bodies."""
TRACE_MARKERS = (b"Traceback (most recent call last)", b'File "', b"\n    at ", b"Exception in thread")
"""Byte patterns that give a stack trace away wherever it hides."""


_JSON_TYPES: dict[bytes, bool] = {}


def is_json_type(content_type: bytes | None) -> bool:
    """``application/json``, ``application/problem+json`` or any other ``+json`` type."""
    if not content_type:
        return False
    known = _JSON_TYPES.get(content_type)
    if known is not None:
        return known
    media = content_type.split(b";", 1)[0].strip().lower()
    verdict = media == b"application/json" or media.endswith(b"+json")
    if len(_JSON_TYPES) < 1024:  # memoised: answers carry a handful of distinct content types
        _JSON_TYPES[content_type] = verdict
    return verdict


def strip_fields(value: Any, names: frozenset[str]) -> Any:
    """``value`` without any mapping key in ``names``, at any depth, stripped in place (and returned).

    For documents the caller owns (just parsed): a mapping's keys are checked against ``names`` without an
    allocation unless one is there, and only nested containers are visited, so no mapping or list is copied.
    """
    _strip(value, names)
    return value


def _strip(value: Any, names: frozenset[str]) -> bool:
    """:func:`strip_fields`, answering whether anything was dropped."""
    kind = type(value)
    if kind is dict:
        dropped = not names.isdisjoint(value)  # no allocation: most mappings hold none of the names
        if dropped:
            for name in names.intersection(value):
                del value[name]
        items = value.values()
    elif kind is list:
        dropped = False
        items = value
    else:
        return False
    for item in items:
        kind = type(item)
        if (kind is dict or kind is list) and _strip(item, names):
            dropped = True
    return dropped


def generic_problem(status: int, correlation_id: str) -> bytes:
    """The body that replaces an error answer which cannot be shown as is."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Upstream error"
    return orjson.dumps(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": "the upstream service failed; quote the correlation id when reporting it",
            "correlation_id": correlation_id,
        }
    )


SEARCH_FIRST = 1024
"""Bodies longer than this are searched for the filtered names before being parsed (shorter ones parse faster)."""


class ResponseFilter:
    """Strips a route's internal fields (and trace keys) from JSON answers.

    A body from which nothing is stripped is passed on as is (the upstream's bytes, not a re-serialisation). A
    long one in which no filtered name appears as a quoted key (and that uses no ``\\u`` escapes, which could
    spell one differently) is not even parsed.
    """

    __slots__ = ("_markers", "names")

    def __init__(self, internal_fields: frozenset[str] = frozenset()) -> None:
        self.names = frozenset(internal_fields) | TRACE_KEYS
        # One search for every quoted name, or an escape that could spell one: a single C call per answer. The
        # opening quote is factored out of the alternatives, so the matcher only tries them at quotes.
        quoted = (re.escape(orjson.dumps(n)[1:]) for n in sorted(self.names))
        self._markers = re.compile(b'"(?:' + b"|".join(quoted) + rb")|\\u")

    def apply(self, content_type: bytes | None, body: bytes) -> bytes:
        """The filtered body (unchanged when it is not JSON)."""
        if not body or not is_json_type(content_type):
            return body
        return self.strip(body)

    def strip(self, body: bytes) -> bytes:
        """:meth:`apply` for a body already known to be JSON."""
        if len(body) > SEARCH_FIRST and self._markers.search(body) is None:
            return body
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        return orjson.dumps(document) if _strip(document, self.names) else body


def sanitize_error(
    status: int, content_type: bytes | None, body: bytes, correlation_id: str, names: frozenset[str] = TRACE_KEYS
) -> tuple[bytes, bytes]:
    """``(content_type, body)`` for an upstream error answer that is safe to show."""
    if is_json_type(content_type):
        try:
            cleaned = orjson.dumps(strip_fields(orjson.loads(body), names | TRACE_KEYS))
        except orjson.JSONDecodeError:
            cleaned = b""
        if cleaned and not any(marker in cleaned for marker in TRACE_MARKERS):
            return content_type or PROBLEM_JSON, cleaned
    elif not body:
        return content_type or b"", body
    return PROBLEM_JSON, generic_problem(status, correlation_id)
