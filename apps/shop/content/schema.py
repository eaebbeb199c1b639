"""Content types declared in Strapi v5's own ``schema.json`` format, loaded and validated once at start.

A directory holds one ``<name>/schema.json`` per content type (the file a Strapi project keeps under
``src/api/<name>/content-types/<name>/schema.json``) and ``components/<category>/<name>.json`` per component,
so a team can copy the files between this hub and a real Strapi. What is read:

- ``kind`` (``collectionType`` / ``singleType``), ``info.singularName`` / ``pluralName`` / ``displayName``,
  ``options.draftAndPublish``, ``pluginOptions.i18n.localized`` (on the type and on each attribute);
- ``attributes``: string, text, richtext, blocks, email, uid, integer, biginteger, float, decimal, boolean,
  date, time, datetime, timestamp, enumeration, json, media, relation (oneToOne, oneToMany, manyToOne,
  manyToMany, oneWay, manyWay), component (``repeatable``) and dynamiczone, with ``required``, ``unique``,
  ``private``, ``default``, ``min``/``max``, ``minLength``/``maxLength``, ``regex``, ``enum``.

Anything else is an :class:`InvalidSchema` naming the file and the attribute, raised before the service
serves a single request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.errors import ConfigError

__all__ = [
    "RELATION_KINDS",
    "SCALAR_TYPES",
    "SYSTEM_FIELDS",
    "Attribute",
    "Component",
    "ContentType",
    "InvalidSchema",
    "Registry",
    "load_registry",
]

#: Attribute types stored as a plain JSON value in the entry.
SCALAR_TYPES = frozenset(
    {
        "string", "text", "richtext", "blocks", "email", "uid", "integer", "biginteger", "float", "decimal",
        "boolean", "date", "time", "datetime", "timestamp", "enumeration", "json",
    }
)  # fmt: skip
#: Relation kinds Strapi v5 accepts (``oneWay``/``manyWay`` are the unidirectional forms).
RELATION_KINDS = frozenset({"oneToOne", "oneToMany", "manyToOne", "manyToMany", "oneWay", "manyWay"})
#: Fields every entry has; no attribute may take their names.
SYSTEM_FIELDS = frozenset({"id", "documentId", "createdAt", "updatedAt", "publishedAt", "locale", "localizations"})
_TYPES = SCALAR_TYPES | {"media", "relation", "component", "dynamiczone"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_API_ID = re.compile(r"^[a-z][a-z0-9-]*$")
_TO_MANY = frozenset({"oneToMany", "manyToMany", "manyWay"})


class InvalidSchema(ConfigError):
    """Raised when a ``schema.json`` (or a component file) is invalid; the message names file and attribute."""

    title = "Invalid content type schema"

    def __init__(self, message: str, *, file: Path | str, attribute: str | None = None) -> None:
        where = f"{file}: attribute {attribute!r}: " if attribute else f"{file}: "
        super().__init__(where + message, file=str(file), attribute=attribute)
        self.file = str(file)
        self.attribute = attribute


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of a content type or component, as declared."""

    name: str
    type: str
    required: bool = False
    unique: bool = False
    private: bool = False
    localized: bool = True
    """Whether each locale has its own value (``pluginOptions.i18n.localized``; only meaningful on a localized type)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """The rest of the declaration (``enum``, ``relation``, ``target``, ``component``, ``min``...)."""

    @property
    def is_relation(self) -> bool:
        """A relation to another content type, or media (a relation to the upload plugin's files)."""
        return self.type in ("relation", "media")

    @property
    def is_populatable(self) -> bool:
        """Left out of responses unless ``populate`` names it (relations, media, components, dynamic zones)."""
        return self.type in ("relation", "media", "component", "dynamiczone")

    @property
    def to_many(self) -> bool:
        """Whether the attribute holds a list (to-many relation, multiple media, repeatable component, zone)."""
        if self.type == "relation":
            return self.options.get("relation") in _TO_MANY
        if self.type == "media":
            return bool(self.options.get("multiple", False))
        if self.type == "component":
            return bool(self.options.get("repeatable", False))
        return self.type == "dynamiczone"

    @property
    def target(self) -> str | None:
        """The target content type uid of a relation (``api::author.author``)."""
        target = self.options.get("target")
        return str(target) if target else None


@dataclass(frozen=True, slots=True)
class Component:
    """A reusable group of fields (``shared.seo``), stored inline in the entries that use it."""

    uid: str
    attributes: Mapping[str, Attribute]
    source: Path


@dataclass(frozen=True, slots=True)
class ContentType:
    """A content type: its API ids, options and attributes."""

    uid: str
    """``api::<singularName>.<singularName>``."""
    kind: str
    singular: str
    plural: str
    display_name: str
    draft_and_publish: bool
    localized: bool
    attributes: Mapping[str, Attribute]
    source: Path

    @property
    def is_single(self) -> bool:
        """A single type (one document, ``/api/<singularName>``)."""
        return self.kind == "singleType"

    def localized_attribute(self, attribute: Attribute) -> bool:
        """Whether ``attribute`` holds a value per locale (shared across locales otherwise)."""
        return self.localized and attribute.localized


@dataclass(frozen=True, slots=True)
class Registry:
    """Every content type and component of the hub, looked up by uid or API id."""

    types: Mapping[str, ContentType]
    components: Mapping[str, Component]

    def by_api_id(self, api_id: str) -> ContentType | None:
        """The collection type whose ``pluralName`` or single type whose ``singularName`` is ``api_id``."""
        for ctype in self.types.values():
            if (ctype.is_single and ctype.singular == api_id) or (not ctype.is_single and ctype.plural == api_id):
                return ctype
        return None

    def by_model(self, model: str) -> ContentType | None:
        """The content type whose ``singularName`` is ``model``."""
        return next((t for t in self.types.values() if t.singular == model), None)


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidSchema(f"cannot be read: {exc.strerror}", file=path) from exc
    except json.JSONDecodeError as exc:
        raise InvalidSchema(f"is not valid JSON (line {exc.lineno}): {exc.msg}", file=path) from exc
    if not isinstance(raw, dict):
        raise InvalidSchema("must hold a JSON object", file=path)
    return raw


def _localized(declaration: Mapping[str, Any], default: bool) -> bool:
    i18n = (declaration.get("pluginOptions") or {}).get("i18n") or {}
    return bool(i18n.get("localized", default))


def _attribute(name: str, raw: Any, path: Path) -> Attribute:
    if not _NAME.match(name):
        raise InvalidSchema("is not a valid attribute name (letters, digits, underscore)", file=path, attribute=name)
    if name in SYSTEM_FIELDS:
        raise InvalidSchema("is reserved for a system field", file=path, attribute=name)
    if not isinstance(raw, dict) or "type" not in raw:
        raise InvalidSchema('must be an object with a "type"', file=path, attribute=name)
    kind = raw["type"]
    if kind not in _TYPES:
        raise InvalidSchema(f"unknown type {kind!r} (expected one of {sorted(_TYPES)})", file=path, attribute=name)
    if kind == "enumeration" and not (
        isinstance(raw.get("enum"), list) and raw["enum"] and all(isinstance(v, str) for v in raw["enum"])
    ):
        raise InvalidSchema('an enumeration needs a non-empty "enum" list of strings', file=path, attribute=name)
    if kind == "relation" and raw.get("relation") not in RELATION_KINDS:
        raise InvalidSchema(f'"relation" must be one of {sorted(RELATION_KINDS)}', file=path, attribute=name)
    if kind == "relation" and not isinstance(raw.get("target"), str):
        raise InvalidSchema('a relation needs a "target" content type uid', file=path, attribute=name)
    if kind == "component" and not isinstance(raw.get("component"), str):
        raise InvalidSchema('a component attribute needs "component": "<category>.<name>"', file=path, attribute=name)
    if kind == "dynamiczone" and not (isinstance(raw.get("components"), list) and raw["components"]):
        raise InvalidSchema('a dynamic zone needs a non-empty "components" list', file=path, attribute=name)
    if "regex" in raw:
        try:
            re.compile(str(raw["regex"]))
        except re.error as exc:
            raise InvalidSchema(f"invalid regex: {exc}", file=path, attribute=name) from exc
    options = {k: v for k, v in raw.items() if k not in ("type", "required", "unique", "private", "pluginOptions")}
    return Attribute(
        name=name,
        type=kind,
        required=bool(raw.get("required", False)),
        unique=bool(raw.get("unique", False)),
        private=bool(raw.get("private", False)),
        localized=_localized(raw, True),
        options=options,
    )


def _attributes(raw: Any, path: Path) -> dict[str, Attribute]:
    if not isinstance(raw, dict) or not raw:
        raise InvalidSchema('"attributes" must be a non-empty object', file=path)
    return {name: _attribute(name, value, path) for name, value in raw.items()}


def _content_type(path: Path) -> ContentType:
    raw = _read(path)
    kind = raw.get("kind")
    if kind not in ("collectionType", "singleType"):
        raise InvalidSchema('"kind" must be "collectionType" or "singleType"', file=path)
    info = raw.get("info") or {}
    singular, plural = info.get("singularName"), info.get("pluralName")
    for key, value in (("singularName", singular), ("pluralName", plural)):
        if not isinstance(value, str) or not _API_ID.match(value):
            raise InvalidSchema(f'"info.{key}" must be kebab-case (e.g. "product-blurb")', file=path)
    if singular == plural:
        raise InvalidSchema('"info.singularName" and "info.pluralName" must differ', file=path)
    return ContentType(
        uid=f"api::{singular}.{singular}",
        kind=str(kind),
        singular=str(singular),
        plural=str(plural),
        display_name=str(info.get("displayName") or singular),
        draft_and_publish=bool((raw.get("options") or {}).get("draftAndPublish", False)),
        localized=_localized(raw, False),
        attributes=_attributes(raw.get("attributes"), path),
        source=path,
    )


def _check_references(registry: Registry) -> None:
    for ctype in registry.types.values():
        for attribute in ctype.attributes.values():
            _check_reference(registry, ctype.attributes, attribute, ctype.source)
    for component in registry.components.values():
        for attribute in component.attributes.values():
            if attribute.type in ("relation", "dynamiczone") or (
                attribute.type == "component" and attribute.options.get("component") == component.uid
            ):
                # Kept simple on purpose: components hold values, not links or nested zones.
                raise InvalidSchema(
                    f"{attribute.type} is not supported inside a component", **_at(component, attribute)
                )
            _check_reference(registry, component.attributes, attribute, component.source)


def _at(component: Component, attribute: Attribute) -> dict[str, Any]:
    return {"file": component.source, "attribute": attribute.name}


def _check_reference(registry: Registry, siblings: Mapping[str, Attribute], attribute: Attribute, path: Path) -> None:
    name = attribute.name
    if attribute.type == "relation":
        target = registry.types.get(attribute.target or "")
        if target is None:
            raise InvalidSchema(
                f"relation target {attribute.target!r} is not a known content type", file=path, attribute=name
            )
        for side in ("mappedBy", "inversedBy"):
            other = attribute.options.get(side)
            if other is not None and (other not in target.attributes or target.attributes[other].type != "relation"):
                raise InvalidSchema(f"{side} {other!r} is not a relation of {target.uid}", file=path, attribute=name)
    if attribute.type == "component" and attribute.options["component"] not in registry.components:
        raise InvalidSchema(f"unknown component {attribute.options['component']!r}", file=path, attribute=name)
    if attribute.type == "dynamiczone":
        unknown = [c for c in attribute.options["components"] if c not in registry.components]
        if unknown:
            raise InvalidSchema(f"unknown components {unknown}", file=path, attribute=name)
    if attribute.type == "uid" and attribute.options.get("targetField") not in (None, *siblings):
        raise InvalidSchema(
            f"targetField {attribute.options['targetField']!r} is not an attribute", file=path, attribute=name
        )


def load_registry(directory: Path) -> Registry:
    """Read every ``*/schema.json`` and ``components/<category>/<name>.json`` under ``directory``.

    Raises:
        InvalidSchema: a file is unreadable or invalid, two types share an API id, or a reference is dangling.
    """
    components: dict[str, Component] = {}
    for path in sorted((directory / "components").glob("*/*.json")):
        raw = _read(path)
        uid = f"{path.parent.name}.{path.stem}"
        components[uid] = Component(uid=uid, attributes=_attributes(raw.get("attributes"), path), source=path)
    types: dict[str, ContentType] = {}
    api_ids: dict[str, Path] = {}
    for path in sorted(directory.glob("*/schema.json")):
        ctype = _content_type(path)
        for api_id in (ctype.singular, ctype.plural):
            if api_id in api_ids:
                raise InvalidSchema(f"API id {api_id!r} is already used by {api_ids[api_id]}", file=path)
            api_ids[api_id] = path
        types[ctype.uid] = ctype
    if not types:
        raise InvalidSchema("no content type found (expected <name>/schema.json files)", file=directory)
    registry = Registry(types=types, components=components)
    _check_references(registry)
    return registry
