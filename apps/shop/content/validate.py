"""Request bodies checked against a content type: ``{"data": {...}}`` of a create or an update.

Every problem is collected (``details.errors`` lists them all, Strapi-style, with the attribute ``path``) and
values are normalised on the way in: datetimes to UTC with milliseconds and ``Z`` (so they compare as text in
SQL), uids slugified from their ``targetField`` when missing. Relations and media come out as
:class:`LinkChange` values; whether their targets exist is checked by the caller, in the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from apps.shop.content.problems import ValidationFailed
from apps.shop.content.schema import Attribute, Component, ContentType, Registry

__all__ = ["LinkChange", "Validated", "slugify", "validate_data"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UID = re.compile(r"^[A-Za-z0-9\-_.~]*$")
_TEXT = frozenset({"string", "text", "richtext", "email", "uid", "enumeration"})


@dataclass(frozen=True, slots=True)
class LinkChange:
    """What a body does to one relation or media attribute: ``set`` replaces, else connect/disconnect."""

    set: tuple[str, ...] | None = None
    connect: tuple[str, ...] = ()
    disconnect: tuple[str, ...] = ()

    def apply(self, current: list[str]) -> list[str]:
        """The linked ids after this change, given the current ones (order kept, new ones appended)."""
        if self.set is not None:
            return list(dict.fromkeys(self.set))
        kept = [d for d in current if d not in self.disconnect]
        return kept + [d for d in dict.fromkeys(self.connect) if d not in kept]

    def references(self) -> tuple[str, ...]:
        """Every id this change links to (to check that they exist)."""
        return (*(self.set or ()), *self.connect)


@dataclass
class Validated:
    """A checked body: JSON values for the entry, link changes for relations and media."""

    data: dict[str, Any] = field(default_factory=dict)
    links: dict[str, LinkChange] = field(default_factory=dict)


def slugify(text: str) -> str:
    """``"Espresso, the guide"`` → ``"espresso-the-guide"`` (the form Strapi's uid field generates)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _datetime(value: str) -> str:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _scalar(attribute: Attribute, value: Any) -> tuple[Any, str | None]:
    """The normalised value, or an error message."""
    kind, options = attribute.type, attribute.options
    if kind in _TEXT:
        if not isinstance(value, str):
            return None, "must be a `string` type"
        if "maxLength" in options and len(value) > int(options["maxLength"]):
            return None, f"must be at most {options['maxLength']} characters"
        if "minLength" in options and len(value) < int(options["minLength"]):
            return None, f"must be at least {options['minLength']} characters"
        if "regex" in options and value and not re.search(str(options["regex"]), value):
            return None, "must match the required pattern"
        if kind == "email" and not _EMAIL.match(value):
            return None, "must be a valid email"
        if kind == "uid" and not _UID.match(value):
            return None, "must match the uid pattern ^[A-Za-z0-9-_.~]*$"
        if kind == "enumeration" and value not in options["enum"]:
            return None, f"must be one of the following values: {', '.join(options['enum'])}"
        return value, None
    if kind in ("integer", "biginteger", "float", "decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, "must be a `number` type"
        if kind in ("integer", "biginteger") and not float(value).is_integer():
            return None, "must be an integer"
        if "min" in options and value < options["min"]:
            return None, f"must be greater than or equal to {options['min']}"
        if "max" in options and value > options["max"]:
            return None, f"must be less than or equal to {options['max']}"
        return (int(value) if kind in ("integer", "biginteger") else value), None
    if kind == "boolean":
        return (value, None) if isinstance(value, bool) else (None, "must be a `boolean` type")
    if kind in ("datetime", "timestamp", "date", "time"):
        if not isinstance(value, str):
            return None, "must be a `date` type"
        try:
            if kind == "date":
                return date.fromisoformat(value).isoformat(), None
            if kind == "time":
                return time.fromisoformat(value).isoformat(timespec="milliseconds"), None
            return _datetime(value), None
        except ValueError:
            return None, "must be a valid ISO-8601 date"
    if kind == "blocks" and not isinstance(value, list):
        return None, "must be an array of blocks"
    return value, None  # json


def _ref(item: Any) -> str | None:
    if isinstance(item, str) and item:
        return item
    if isinstance(item, int) and not isinstance(item, bool):
        return str(item)
    if isinstance(item, dict):
        return _ref(item.get("documentId", item.get("id")))
    return None


def _refs(items: Any) -> tuple[str, ...] | None:
    if not isinstance(items, list):
        items = [items]
    refs = tuple(_ref(i) for i in items)
    return None if any(r is None for r in refs) else tuple(r for r in refs if r is not None)


def _link(attribute: Attribute, value: Any) -> tuple[LinkChange | None, str | None]:
    if value is None:
        return LinkChange(set=()), None
    if isinstance(value, dict) and set(value) & {"connect", "disconnect", "set"}:
        parts = {k: _refs(value.get(k, [])) for k in ("connect", "disconnect", "set")}
        if any(v is None for v in parts.values()):
            return None, "relation items must be documentIds or {documentId} objects"
        change = LinkChange(
            set=parts["set"] if "set" in value else None,
            connect=parts["connect"] or (),
            disconnect=parts["disconnect"] or (),
        )
    else:
        refs = _refs(value)
        if refs is None or (isinstance(value, list) and not attribute.to_many):
            return None, "must be a documentId, a list of documentIds or {connect, disconnect, set}"
        change = LinkChange(set=refs)
    if not attribute.to_many and len(change.set or change.connect) > 1:
        return None, "a to-one relation links at most one entry"
    return change, None


class _Checker:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.errors: list[dict[str, Any]] = []

    def fail(self, path: list[str], message: str) -> None:
        self.errors.append({"path": path, "message": f"{path[-1]} {message}", "name": "ValidationError"})

    def component(self, component: Component, value: Any, path: list[str], *, partial: bool = False) -> Any:
        if not isinstance(value, dict):
            self.fail(path, "must be an object")
            return None
        out: dict[str, Any] = {}
        for name, item in value.items():
            if name in ("id", "__component"):
                continue
            attribute = component.attributes.get(name)
            if attribute is None:
                self.fail([*path, name], "is not an attribute of the component")
                continue
            out[name] = self.value(attribute, item, [*path, name])
        self.required(component.attributes, out, path)
        return out

    def required(self, attributes: Mapping[str, Attribute], values: Mapping[str, Any], path: list[str]) -> None:
        for name, attribute in attributes.items():
            if attribute.required and values.get(name) is None and attribute.type not in ("relation", "media"):
                self.fail([*path, name], "must be defined.")

    def value(self, attribute: Attribute, value: Any, path: list[str]) -> Any:
        if value is None:
            return None
        if attribute.type == "component":
            component = self.registry.components[str(attribute.options["component"])]
            if attribute.to_many:
                if not isinstance(value, list):
                    self.fail(path, "must be an array")
                    return None
                return [self._with_id(self.component(component, v, [*path, str(i)]), i) for i, v in enumerate(value)]
            return self._with_id(self.component(component, value, path), 0)
        if attribute.type == "dynamiczone":
            if not isinstance(value, list):
                self.fail(path, "must be an array")
                return None
            out = []
            for i, item in enumerate(value):
                uid = str(item.get("__component")) if isinstance(item, dict) else None
                if uid is None or uid not in attribute.options["components"]:
                    self.fail([*path, str(i)], f"__component must be one of {attribute.options['components']}")
                    continue
                checked = self.component(self.registry.components[uid], item, [*path, str(i)])
                if checked is not None:
                    out.append({"__component": uid, **self._with_id(checked, i)})
            return out
        normalised, error = _scalar(attribute, value)
        if error:
            self.fail(path, error)
        return normalised

    @staticmethod
    def _with_id(value: Any, index: int) -> Any:
        # Strapi gives every component instance an id; a stable per-entry index serves the same purpose.
        return {"id": index + 1, **value} if isinstance(value, dict) else value


def validate_data(
    ctype: ContentType, registry: Registry, body: Any, *, creating: bool, localized_only: bool = False
) -> Validated:
    """Check ``body`` (the request's ``data`` object) for ``ctype``.

    Args:
        creating: apply defaults and require every required attribute (an update checks only what it sets).
        localized_only: a new locale of an existing document: only localized attributes may be given.

    Raises:
        ValidationFailed: with every problem found.
    """
    checker = _Checker(registry)
    result = Validated()
    if not isinstance(body, dict):
        raise ValidationFailed(
            [{"path": [], "message": 'Missing "data" payload in the request body', "name": "ValidationError"}]
        )
    for name, value in body.items():
        if name in ("id", "documentId", "locale", "createdAt", "updatedAt", "publishedAt", "localizations"):
            continue  # system fields are the hub's to set (Strapi ignores them too)
        attribute = ctype.attributes.get(name)
        if attribute is None:
            checker.fail([name], "is not an attribute of " + ctype.singular)
            continue
        if localized_only and not ctype.localized_attribute(attribute):
            continue  # shared across locales: the other locales' value stands
        if attribute.is_relation:
            change, error = _link(attribute, value)
            if error:
                checker.fail([name], error)
            elif change is not None:
                result.links[name] = change
            continue
        result.data[name] = checker.value(attribute, value, [name])
    if creating:
        for name, attribute in ctype.attributes.items():
            if name not in result.data and "default" in attribute.options:
                result.data[name] = attribute.options["default"]
            target_field = str(attribute.options.get("targetField", ""))
            if attribute.type == "uid" and not result.data.get(name) and isinstance(result.data.get(target_field), str):
                result.data[name] = slugify(result.data[target_field])
        checker.required({n: a for n, a in ctype.attributes.items() if not a.is_relation}, result.data, [])
    else:
        for name, value in result.data.items():
            if value is None and ctype.attributes[name].required:
                checker.fail([name], "must be defined.")
    if checker.errors:
        raise ValidationFailed(checker.errors)
    return result
