"""The GraphQL types shared by every content type: filter inputs per scalar kind, pagination, status, media.

Names follow Strapi v5's GraphQL plugin (``StringFilterInput``, ``PaginationArg``, ``Pagination``,
``PublicationStatus``, ``UploadFile``, ``DeleteMutationResponse``), and so do the operators: ``eq``, ``eqi``,
``ne``, ``nei``, ``lt``, ``lte``, ``gt``, ``gte``, ``in``, ``notIn``, ``contains``, ``notContains``, ``containsi``,
``notContainsi``, ``startsWith``, ``startsWithi``, ``endsWith``, ``endsWithi``, ``null``, ``notNull``,
``between``, ``and``, ``or``, ``not``.
"""

from __future__ import annotations

import enum
from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON

__all__ = [
    "SCALAR_FILTERS",
    "DeleteMutationResponse",
    "Pagination",
    "PaginationArg",
    "PublicationStatus",
    "UploadFile",
    "dynamic_input",
    "filter_input",
    "graphql_scalar",
]

#: Python names that are keywords get a trailing underscore; the GraphQL name drops it.
_RESERVED = {"and_": "and", "or_": "or", "not_": "not", "in_": "in"}
_TEXT_OPS: tuple[str, ...] = ("eqi", "nei", "contains", "notContains", "containsi", "notContainsi")
_TEXT_OPS += ("startsWith", "startsWithi", "endsWith", "endsWithi")
_COMPARE_OPS = ("eq", "ne", "lt", "lte", "gt", "gte")
# Types built at run time cannot be spelled as static annotations; these aliases keep mypy out of the way.
LIST: Any = list
OPT: Any = Optional


def dynamic_input(target: str | type, fields: dict[str, Any], description: str | None = None) -> Any:
    """A strawberry input type built at run time (every field optional, defaulting to null).

    ``target`` is a name, or a class created beforehand so that other types could already refer to it.
    """
    cls = type(target, (), {}) if isinstance(target, str) else target
    cls.__annotations__ = {k: OPT[v] for k, v in fields.items()}
    for key in fields:
        setattr(cls, key, strawberry.field(default=None, name=_RESERVED.get(key, key)))
    return strawberry.input(cls, description=description)


def filter_input(name: str, value: Any) -> Any:
    """``<Kind>FilterInput``: the operators over one scalar kind (recursive through and/or/not)."""
    cls = type(name, (), {})
    fields: dict[str, Any] = {op: value for op in _COMPARE_OPS}
    fields.update({op: str for op in _TEXT_OPS})
    fields.update({"in_": LIST[OPT[value]], "notIn": LIST[OPT[value]], "between": LIST[OPT[value]]})
    fields.update({"null": bool, "notNull": bool})
    fields.update({"and_": LIST[OPT[cls]], "or_": LIST[OPT[cls]], "not_": cls})
    return dynamic_input(cls, fields)


StringFilterInput = filter_input("StringFilterInput", str)
IntFilterInput = filter_input("IntFilterInput", int)
FloatFilterInput = filter_input("FloatFilterInput", float)
BooleanFilterInput = filter_input("BooleanFilterInput", bool)
DateTimeFilterInput = filter_input("DateTimeFilterInput", str)
IDFilterInput = filter_input("IDFilterInput", strawberry.ID)

#: The filter input of each attribute type that can be filtered.
SCALAR_FILTERS: dict[str, Any] = {
    **dict.fromkeys(("string", "text", "richtext", "email", "uid", "enumeration"), StringFilterInput),
    **dict.fromkeys(("integer", "biginteger"), IntFilterInput),
    **dict.fromkeys(("float", "decimal"), FloatFilterInput),
    "boolean": BooleanFilterInput,
    **dict.fromkeys(("date", "time", "datetime", "timestamp"), DateTimeFilterInput),
}


def graphql_scalar(attribute_type: str) -> Any:
    """The GraphQL scalar of an attribute type (components and zones are JSON here)."""
    if attribute_type in ("integer", "biginteger"):
        return int
    if attribute_type in ("float", "decimal"):
        return float
    if attribute_type == "boolean":
        return bool
    if attribute_type in ("json", "blocks", "component", "dynamiczone"):
        return JSON
    return str


@strawberry.enum
class PublicationStatus(enum.Enum):
    """Which version of documents to read or write."""

    DRAFT = "draft"
    PUBLISHED = "published"


@strawberry.input
class PaginationArg:
    """Pagination by page (``page``, ``pageSize``) or by offset (``start``, ``limit``)."""

    page: Optional[int] = None  # noqa: UP045
    pageSize: Optional[int] = None  # noqa: UP045
    start: Optional[int] = None  # noqa: UP045
    limit: Optional[int] = None  # noqa: UP045


@strawberry.type
class Pagination:
    """``pageInfo`` of a ``_connection`` query."""

    page: int
    pageSize: int
    pageCount: int
    total: int


@strawberry.type
class UploadFile:
    """A media file."""

    documentId: strawberry.ID
    name: str
    alternativeText: Optional[str]  # noqa: UP045
    caption: Optional[str]  # noqa: UP045
    width: Optional[int]  # noqa: UP045
    height: Optional[int]  # noqa: UP045
    mime: str
    size: float
    url: str
    provider: str


@strawberry.type
class DeleteMutationResponse:
    """What a delete mutation answers."""

    documentId: strawberry.ID
