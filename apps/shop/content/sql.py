"""Filters and sort of a validated query, compiled to SQL over the generic entries table.

Attribute values live in the ``data`` JSON column; SQLAlchemy's JSON comparator renders ``data['title']`` as
``json_extract(data, '$."title"')`` on SQLite and ``data ->> 'title'`` on PostgreSQL, and the cast follows the
attribute type (``integer`` compares as a number, ``datetime`` as ISO-8601 text, which orders correctly because
the hub always writes UTC with milliseconds and ``Z``). Text operators are case-sensitive on both engines — plain
``LIKE`` is not on SQLite — so ``$contains`` is ``instr``/``strpos`` and ``$startsWith`` a ``substr`` comparison.
A deep filter through a relation is an ``EXISTS`` over :data:`~apps.shop.content.models.links` joined to the
target's entry in the same status and locale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    String,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from apps.shop.content.filters import SYSTEM_ATTRIBUTES, field_scope
from apps.shop.content.models import entries, links
from apps.shop.content.query import SortKey
from apps.shop.content.schema import Attribute, ContentType, Registry

__all__ = ["Scope", "order_by", "where"]

_COLUMNS = {
    "id": "id",
    "documentId": "document_id",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "publishedAt": "published_at",
    "locale": "locale",
}
Expr = ColumnElement[Any]


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a (nested) filter applies: an aliased entries table, its type and the versions it links to."""

    table: FromClause
    ctype: ContentType
    registry: Registry
    status: str
    """Status of the entries read (relations follow to targets in the same status)."""
    default_locale: str
    dialect: str
    attributes: Mapping[str, Attribute] | None = None
    json_path: tuple[str, ...] = ()
    """Set inside a component: attribute values sit under ``data[<component attribute>]``."""

    def fields(self) -> Mapping[str, Attribute]:
        """The fields a filter may name here."""
        if self.attributes is not None:
            return self.attributes
        return field_scope(self.ctype.attributes)


def _value(scope: Scope, name: str, attribute: Attribute, *, text: bool = False) -> Expr:
    if not scope.json_path and name in SYSTEM_ATTRIBUTES:
        column: Expr = scope.table.c[_COLUMNS[name]]
        return cast(column, String) if text and name == "id" else column
    path = (*scope.json_path, name)
    element = scope.table.c.data[path if len(path) > 1 else name]
    if text:
        return element.as_string()  # type: ignore[no-any-return]
    if attribute.type in ("integer", "biginteger"):
        return element.as_integer()  # type: ignore[no-any-return]
    if attribute.type in ("float", "decimal"):
        return element.as_float()  # type: ignore[no-any-return]
    if attribute.type == "boolean":
        return element.as_boolean()  # type: ignore[no-any-return]
    return element.as_string()  # type: ignore[no-any-return]


def _contains(scope: Scope, haystack: Expr, needle: str) -> Expr:
    position = func.strpos(haystack, needle) if scope.dialect == "postgresql" else func.instr(haystack, needle)
    return position > 0  # type: ignore[no-any-return]


def _ends(haystack: Expr, needle: str) -> Expr:
    size = len(needle)
    return and_(func.length(haystack) >= size, func.substr(haystack, func.length(haystack) - size + 1) == needle)


def _starts(haystack: Expr, needle: str) -> Expr:
    return func.substr(haystack, 1, len(needle)) == needle


_TEXT: dict[str, Callable[[Scope, Expr, str], Expr]] = {
    "$eqi": lambda s, x, v: func.lower(x) == v.lower(),
    "$nei": lambda s, x, v: func.lower(x) != v.lower(),
    "$contains": lambda s, x, v: _contains(s, x, v),
    "$notContains": lambda s, x, v: not_(_contains(s, x, v)),
    "$containsi": lambda s, x, v: _contains(s, func.lower(x), v.lower()),
    "$notContainsi": lambda s, x, v: not_(_contains(s, func.lower(x), v.lower())),
    "$startsWith": lambda s, x, v: _starts(x, v),
    "$startsWithi": lambda s, x, v: _starts(func.lower(x), v.lower()),
    "$endsWith": lambda s, x, v: _ends(x, v),
    "$endsWithi": lambda s, x, v: _ends(func.lower(x), v.lower()),
}
_COMPARE: dict[str, Callable[[Expr, Any], Expr]] = {
    "$eq": lambda x, v: x == v,
    "$ne": lambda x, v: x != v,
    "$lt": lambda x, v: x < v,
    "$lte": lambda x, v: x <= v,
    "$gt": lambda x, v: x > v,
    "$gte": lambda x, v: x >= v,
    "$in": lambda x, v: x.in_(v),
    "$notIn": lambda x, v: x.not_in(v),
    "$between": lambda x, v: x.between(v[0], v[1]),
}


def _operators(scope: Scope, name: str, attribute: Attribute, ops: Mapping[str, Any]) -> Expr:
    clauses: list[Expr] = []
    for op, operand in ops.items():
        if op == "$and":
            clauses.append(and_(true(), *(_operators(scope, name, attribute, o) for o in operand)))
        elif op == "$or":
            clauses.append(or_(false(), *(_operators(scope, name, attribute, o) for o in operand)))
        elif op == "$not":
            clauses.append(not_(_operators(scope, name, attribute, operand)))
        elif op in ("$null", "$notNull"):
            column = _value(scope, name, attribute)
            is_null = column.is_(None)
            clauses.append(is_null if (op == "$null") == operand else column.is_not(None))
        elif op in _TEXT:
            clauses.append(_TEXT[op](scope, _value(scope, name, attribute, text=True), operand))
        else:
            clauses.append(_COMPARE[op](_value(scope, name, attribute), operand))
    return and_(true(), *clauses)


def _relation(scope: Scope, attribute: Attribute, tree: Mapping[str, Any]) -> Expr:
    target = scope.registry.types[attribute.target or ""]
    link = links.alias()
    other = entries.alias()
    source_locale: Expr = scope.table.c.locale if scope.ctype.localized else literal(scope.default_locale)
    inner = Scope(
        table=other,
        ctype=target,
        registry=scope.registry,
        status=scope.status if target.draft_and_publish else "published",
        default_locale=scope.default_locale,
        dialect=scope.dialect,
    )
    return exists(
        select(literal(1))
        .select_from(
            link.join(
                other, and_(other.c.type_uid == link.c.target_uid, other.c.document_id == link.c.target_document_id)
            )
        )
        .where(
            link.c.entry_id == scope.table.c.id,
            link.c.field == attribute.name,
            other.c.status == inner.status,
            other.c.locale == (source_locale if target.localized else literal("")),
            where(inner, tree),
        )
    )


def where(scope: Scope, tree: Mapping[str, Any]) -> Expr:
    """The SQL condition of a coerced filter tree (see :func:`apps.shop.content.filters.coerce_filters`)."""
    clauses: list[Expr] = []
    fields = scope.fields()
    for key, value in tree.items():
        if key == "$and":
            clauses.append(and_(true(), *(where(scope, item) for item in value)))
        elif key == "$or":
            clauses.append(or_(false(), *(where(scope, item) for item in value)))
        elif key == "$not":
            clauses.append(not_(where(scope, value)))
        else:
            attribute = fields[key]
            if attribute.type == "relation":
                clauses.append(_relation(scope, attribute, value))
            elif attribute.type == "component":
                component = scope.registry.components[str(attribute.options["component"])]
                nested = replace(
                    scope,
                    attributes=field_scope(component.attributes, system=False),
                    json_path=(*scope.json_path, key),
                )
                clauses.append(where(nested, value))
            else:
                clauses.append(_operators(scope, key, attribute, value))
    return and_(true(), *clauses)


def order_by(scope: Scope, keys: Sequence[SortKey]) -> list[Any]:
    """ORDER BY terms for ``keys``; the entry id breaks ties so pages never overlap.

    Nulls sort first ascending and last descending on both engines (SQLite's order, made explicit for PostgreSQL).
    """
    fields = scope.fields()
    terms: list[Any] = []
    for key in keys:
        column = _value(scope, key.field, fields[key.field])
        terms.append(column.desc().nulls_last() if key.descending else column.asc().nulls_first())
    terms.append(scope.table.c.id.asc())
    return terms
