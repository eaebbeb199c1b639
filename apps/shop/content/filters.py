"""Strapi filter trees: checked against the content type and coerced to the attributes' types.

``{"title": {"$containsi": "ESPRESSO"}, "$or": [{"rating": {"$gte": "4"}}, {"featured": {"$eq": "true"}}],
"author": {"name": {"$eq": "Ada"}}}`` comes out with ``"4"`` as ``4.0`` and ``"true"`` as ``True``; relations
(``author``) and non-repeatable components (``seo``) nest the target's fields. :mod:`apps.shop.content.sql`
compiles the result; GraphQL builds the same trees from its input types, so both APIs filter alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.shop.content.problems import InvalidQuery
from apps.shop.content.schema import Attribute, ContentType, Registry

__all__ = [
    "LOGICAL",
    "OPERATORS",
    "SYSTEM_ATTRIBUTES",
    "coerce_filters",
    "coerce_value",
    "field_scope",
]

#: Operators taking one value.
SCALAR_OPERATORS = frozenset(
    {
        "$eq", "$eqi", "$ne", "$nei", "$lt", "$lte", "$gt", "$gte", "$contains", "$notContains", "$containsi",
        "$notContainsi", "$startsWith", "$startsWithi", "$endsWith", "$endsWithi",
    }
)  # fmt: skip
#: Operators taking a list.
LIST_OPERATORS = frozenset({"$in", "$notIn", "$between"})
#: Operators taking a boolean.
BOOLEAN_OPERATORS = frozenset({"$null", "$notNull"})
#: Operators combining filters.
LOGICAL = frozenset({"$and", "$or", "$not"})
#: Every operator of Strapi v5's REST filters.
OPERATORS = SCALAR_OPERATORS | LIST_OPERATORS | BOOLEAN_OPERATORS | LOGICAL
#: Text matching operators: their value is always compared as text.
TEXT_OPERATORS = frozenset(
    {
        "$eqi", "$nei", "$contains", "$notContains", "$containsi", "$notContainsi", "$startsWith", "$startsWithi",
        "$endsWith", "$endsWithi",
    }
)  # fmt: skip

#: The fields every entry has, as attributes (filterable, sortable).
SYSTEM_ATTRIBUTES: Mapping[str, Attribute] = {
    "id": Attribute("id", "integer"),
    "documentId": Attribute("documentId", "string"),
    "createdAt": Attribute("createdAt", "datetime"),
    "updatedAt": Attribute("updatedAt", "datetime"),
    "publishedAt": Attribute("publishedAt", "datetime"),
    "locale": Attribute("locale", "string"),
}
_INTEGER = frozenset({"integer", "biginteger"})
_FLOAT = frozenset({"float", "decimal"})
_TRUE = frozenset({"true", "1", "t"})
_FALSE = frozenset({"false", "0", "f"})


def field_scope(attributes: Mapping[str, Attribute], *, system: bool = True) -> dict[str, Attribute]:
    """The filterable fields: public attributes plus, for content types, the system fields."""
    scope = {name: a for name, a in attributes.items() if not a.private and a.type != "dynamiczone"}
    if system:
        scope.update(SYSTEM_ATTRIBUTES)
    return scope


def _boolean(raw: Any, key: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidQuery(f"Invalid value for {key}: expected a boolean", key=key, param="filters")


def coerce_value(attribute: Attribute, raw: Any, key: str) -> Any:
    """``raw`` (a query-string text, or already a JSON value) as a value of ``attribute``'s type.

    Raises:
        InvalidQuery: the value cannot be read as that type.
    """
    if isinstance(raw, dict | list):
        raise InvalidQuery(f"Invalid value for {key}", key=key, param="filters")
    try:
        if attribute.type in _INTEGER:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError(raw)
            return int(raw)
        if attribute.type in _FLOAT:
            return float(raw)
    except (TypeError, ValueError):
        raise InvalidQuery(f"Invalid value for {key}: expected a number", key=key, param="filters") from None
    if attribute.type == "boolean":
        return _boolean(raw, key)
    return raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else str(raw)


def _items(value: Any, key: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        # qs keeps an object when list indexes are sparse or large; its values are the list.
        return list(value.values())
    raise InvalidQuery(f"Invalid value for {key}: expected a list", key=key, param="filters")


def _operators(attribute: Attribute, value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {"$eq": coerce_value(attribute, value, key)}
    out: dict[str, Any] = {}
    for op, operand in value.items():
        if op not in OPERATORS:
            raise InvalidQuery(f"Invalid key {op}", key=op, param="filters")
        if op in ("$and", "$or"):
            out[op] = [_operators(attribute, item, key) for item in _items(operand, op)]
        elif op == "$not":
            out[op] = _operators(attribute, operand, key)
        elif op in BOOLEAN_OPERATORS:
            out[op] = _boolean(operand, op)
        elif op in LIST_OPERATORS:
            items = operand.split(",") if isinstance(operand, str) and op == "$between" else operand
            values = [coerce_value(attribute, item, key) for item in (_items(items, op) if items != "" else [])]
            if op == "$between" and len(values) != 2:
                raise InvalidQuery(f"Invalid value for {key}: $between needs two values", key=key, param="filters")
            out[op] = values
        elif op in TEXT_OPERATORS:
            out[op] = coerce_value(Attribute(attribute.name, "string"), operand, key)
        else:
            out[op] = coerce_value(attribute, operand, key)
    return out


def _object(ctype: ContentType | None, scope: Mapping[str, Attribute], registry: Registry, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidQuery("Invalid filters parameter", key="filters", param="filters")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("$and", "$or"):
            out[key] = [_object(ctype, scope, registry, item) for item in _items(value, key)]
        elif key == "$not":
            out[key] = _object(ctype, scope, registry, value)
        elif key not in scope:
            raise InvalidQuery(f"Invalid key {key}", key=key, param="filters")
        else:
            out[key] = _field(scope[key], registry, value, key)
    return out


def _field(attribute: Attribute, registry: Registry, value: Any, key: str) -> Any:
    if attribute.type == "relation":
        target = registry.types[attribute.target or ""]
        return _object(target, field_scope(target.attributes), registry, value)
    if attribute.type == "component" and not attribute.to_many:
        component = registry.components[str(attribute.options["component"])]
        return _object(None, field_scope(component.attributes, system=False), registry, value)
    if attribute.type in ("media", "component"):
        # Strapi cannot deep-filter media (a polymorphic relation); repeatable components are lists in JSON.
        raise InvalidQuery(f"Invalid key {key}", key=key, param="filters")
    return _operators(attribute, value, key)


def coerce_filters(ctype: ContentType, registry: Registry, raw: Any) -> dict[str, Any]:
    """Check a ``filters`` tree against ``ctype`` and coerce its values.

    Raises:
        InvalidQuery: an unknown field or operator, or a value of the wrong type.
    """
    return _object(ctype, field_scope(ctype.attributes), registry, raw)
