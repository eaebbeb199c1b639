"""Strapi's query strings: nested brackets the way the ``qs`` library writes and reads them.

``filters[author][name][$eq]=Ada&sort[0]=title:asc`` is ``{"filters": {"author": {"name": {"$eq": "Ada"}}},
"sort": ["title:asc"]}``. :func:`encode` writes what :func:`parse` reads, so the content client and the hub
agree on one canonical form (which is also the content client's cache key).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

from baton.errors import BatonError

__all__ = ["MAX_DEPTH", "MAX_PARAMS", "QueryStringError", "encode", "parse", "parse_pairs"]

#: Deepest nesting accepted (``filters[a][b][c]...``); deeper keys are refused rather than silently cut.
MAX_DEPTH = 12
#: Most parameters in one query string.
MAX_PARAMS = 1000
#: Largest list index accepted (``qs`` turns bigger indexes into object keys; we refuse them).
MAX_INDEX = 100

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class QueryStringError(BatonError):
    """Raised when a query string cannot be read as nested parameters (malformed key, too deep, too many)."""

    status = 400
    title = "Invalid query string"


def _path(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise QueryStringError(f"malformed parameter name {key!r}")
    segments = [match.group(1), *_SEGMENT.findall(match.group(2))]
    if len(segments) > MAX_DEPTH:
        raise QueryStringError(f"parameter {key!r} is nested deeper than {MAX_DEPTH} levels")
    return segments


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        indexes = sorted(converted, key=int)
        if int(indexes[-1]) > MAX_INDEX:
            raise QueryStringError(f"list index {indexes[-1]} is larger than {MAX_INDEX}")
        return [converted[k] for k in indexes]
    return converted


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest ``(key, value)`` pairs; ``[]`` appends, numeric indexes make lists, a repeated plain key a list.

    Raises:
        QueryStringError: a malformed or too deeply nested key, or too many parameters.
    """
    root: dict[str, Any] = {}
    for count, (key, value) in enumerate(pairs, start=1):
        if count > MAX_PARAMS:
            raise QueryStringError(f"more than {MAX_PARAMS} query parameters")
        segments = _path(key)
        node = root
        for i, segment in enumerate(segments):
            last = i == len(segments) - 1
            if segment == "":
                segment = str(len(node))
            current = node.get(segment)
            if last:
                if current is None:
                    node[segment] = value
                elif isinstance(current, list):
                    current.append(value)
                elif isinstance(current, str):
                    node[segment] = [current, value]
                else:
                    raise QueryStringError(f"parameter {key!r} mixes a value with nested keys")
            else:
                if isinstance(current, str):
                    raise QueryStringError(f"parameter {key!r} mixes a value with nested keys")
                if isinstance(current, list):
                    current = {str(j): v for j, v in enumerate(current)}
                    node[segment] = current
                if current is None:
                    current = node[segment] = {}
                node = current
    return {k: _listify(v) for k, v in root.items()}


def parse(query_string: str) -> dict[str, Any]:
    """Parse a raw query string (``a[b]=1&c=2``) into nested dicts and lists of strings.

    Raises:
        QueryStringError: see :func:`parse_pairs`.
    """
    return parse_pairs(parse_qsl(query_string, keep_blank_values=True))


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value):
            _flatten(f"{prefix}[{key}]", value[key], out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    elif value is not None:
        out.append((prefix, str(value)))


def encode(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten nested parameters into bracketed ``(key, value)`` pairs, keys sorted (a canonical form)."""
    out: list[tuple[str, str]] = []
    for key in sorted(params):
        _flatten(key, params[key], out)
    return out


def to_query_string(params: Mapping[str, Any]) -> str:
    """``encode`` joined into a URL query string (brackets kept readable, values percent-encoded)."""
    return "&".join(f"{quote(k, safe='[]$')}={quote(v, safe='')}" for k, v in encode(params))
