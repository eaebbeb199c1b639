"""Reading Strapi v5's REST query parameters into a validated :class:`Query`.

``filters``, ``populate``, ``fields``, ``sort``, ``pagination``, ``locale`` and ``status`` are checked against the
content type before anything reaches SQL: an unknown key, operator or value is an :class:`InvalidQuery`, which the
API answers as Strapi does — 400 with ``{"data": null, "error": {"status": 400, "name": "ValidationError",
"message": "Invalid key <key>", "details": {...}}}``. Filter values are coerced to the attribute's type here, so
the SQL layer only sees well-typed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.shop.content.filters import coerce_filters
from apps.shop.content.problems import InvalidQuery
from apps.shop.content.schema import Attribute, ContentType, Registry

__all__ = ["Pagination", "Populate", "Query", "QueryLimits", "SortKey", "parse_query"]

SYSTEM_SORTABLE = ("id", "documentId", "createdAt", "updatedAt", "publishedAt", "locale")
_KNOWN = frozenset({"filters", "populate", "fields", "sort", "pagination", "locale", "status"})


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """The hub's pagination and locale settings a query is checked against."""

    locales: tuple[str, ...] = ("en",)
    """Locales content may exist in; the first is the default (Strapi's ``en`` unless configured)."""
    default_page_size: int = 25
    """Entries per page when the query does not say (Strapi's ``api.rest.defaultLimit``)."""
    max_page_size: int = 100
    """Largest page served; bigger requests are capped (Strapi's ``api.rest.maxLimit``)."""

    @property
    def default_locale(self) -> str:
        """The locale used when a request names none."""
        return self.locales[0]


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ``sort`` entry: a field and its direction."""

    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Populate:
    """What to do with one populated attribute: which fields of the target, and what to populate inside it."""

    fields: tuple[str, ...] | None = None
    populate: Mapping[str, Populate] = field(default_factory=dict)
    filters: Mapping[str, Any] | None = None
    sort: tuple[SortKey, ...] = ()


@dataclass(frozen=True, slots=True)
class Pagination:
    """A page of results, by page (``page``/``pageSize``) or by offset (``start``/``limit``)."""

    offset: int = 0
    limit: int = 25
    by_page: bool = True
    with_count: bool = True

    @property
    def page(self) -> int:
        """The 1-based page number (by-page pagination)."""
        return self.offset // self.limit + 1 if self.limit else 1


@dataclass(frozen=True, slots=True)
class Query:
    """A validated Strapi query for one content type."""

    filters: Mapping[str, Any] | None = None
    fields: tuple[str, ...] | None = None
    populate: Mapping[str, Populate] = field(default_factory=dict)
    sort: tuple[SortKey, ...] = ()
    pagination: Pagination = field(default_factory=Pagination)
    locale: str | None = None
    """The locale to read (``None``: every locale; ``""`` for a type that is not localized)."""
    status: str = "published"


def _as_list(value: Any, *, param: str) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for item in value for v in item.split(",") if v.strip()]
    raise InvalidQuery(f"Invalid {param} parameter", key=param, param=param)


def _fields(ctype: ContentType, value: Any, *, param: str = "fields") -> tuple[str, ...]:
    names = _as_list(value, param=param)
    if names == ["*"]:
        return tuple(name for name, a in ctype.attributes.items() if not a.is_populatable and not a.private)
    for name in names:
        attribute = ctype.attributes.get(name)
        if name not in SYSTEM_SORTABLE and (attribute is None or attribute.is_populatable or attribute.private):
            raise InvalidQuery(f"Invalid key {name}", key=name, param=param)
    return tuple(names)


def _sort(ctype: ContentType, value: Any) -> tuple[SortKey, ...]:
    keys: list[SortKey] = []
    for item in _as_list(value, param="sort"):
        name, _, direction = item.partition(":")
        attribute = ctype.attributes.get(name)
        if name not in SYSTEM_SORTABLE and (attribute is None or attribute.is_populatable or attribute.private):
            raise InvalidQuery(f"Invalid key {name}", key=name, param="sort")
        if direction.lower() not in ("", "asc", "desc"):
            raise InvalidQuery(f"Invalid order {direction}. Expected 'asc' or 'desc'", key=name, param="sort")
        keys.append(SortKey(name, direction.lower() == "desc"))
    return tuple(keys)


def _populatable(ctype: ContentType, registry: Registry, name: str, param: str) -> Attribute:
    attribute = ctype.attributes.get(name)
    if attribute is None or not attribute.is_populatable or attribute.private:
        raise InvalidQuery(f"Invalid key {name}", key=name, param=param)
    return attribute


def _target(registry: Registry, attribute: Attribute) -> ContentType | None:
    return registry.types.get(attribute.target or "") if attribute.type == "relation" else None


def _populate(ctype: ContentType, registry: Registry, value: Any, depth: int = 0) -> dict[str, Populate]:
    if depth > 5:
        raise InvalidQuery("populate is nested too deeply", key="populate", param="populate")
    if value in ("*", ["*"], "true"):
        return {n: Populate() for n, a in ctype.attributes.items() if a.is_populatable and not a.private}
    if isinstance(value, str | list):
        out: dict[str, Populate] = {}
        for path in _as_list(value, param="populate"):
            head, _, rest = path.partition(".")
            attribute = _populatable(ctype, registry, head, "populate")
            target = _target(registry, attribute)
            inner = _populate(target, registry, rest, depth + 1) if rest and target else {}
            if rest and target is None:
                raise InvalidQuery(f"Invalid key {rest}", key=rest, param="populate")
            previous = out.get(head, Populate())
            out[head] = Populate(populate={**previous.populate, **inner})
        return out
    if not isinstance(value, dict):
        raise InvalidQuery("Invalid populate parameter", key="populate", param="populate")
    result: dict[str, Populate] = {}
    for name, spec in value.items():
        attribute = _populatable(ctype, registry, name, "populate")
        target = _target(registry, attribute)
        if spec in ("true", "*", True):
            result[name] = Populate()
            continue
        if spec == "false":
            continue
        if not isinstance(spec, dict):
            raise InvalidQuery(f"Invalid populate value for {name}", key=name, param="populate")
        unknown = set(spec) - {"fields", "populate", "filters", "sort"}
        if unknown:
            bad = sorted(unknown)[0]
            raise InvalidQuery(f"Invalid key {bad}", key=bad, param="populate")
        if target is None and set(spec) - {"populate"}:
            # Components, zones and media have no fields/filters/sort of their own here; only nested populate.
            raise InvalidQuery(f"Invalid key {name}", key=name, param="populate")
        result[name] = Populate(
            fields=_fields(target, spec["fields"]) if target and "fields" in spec else None,
            populate=_populate(target, registry, spec["populate"], depth + 1) if target and "populate" in spec else {},
            filters=coerce_filters(target, registry, spec["filters"]) if target and "filters" in spec else None,
            sort=_sort(target, spec["sort"]) if target and "sort" in spec else (),
        )
    return result


def _int(raw: Any, name: str, *, minimum: int) -> int:
    try:
        number = int(str(raw))
    except ValueError:
        raise InvalidQuery(f"Invalid '{name}' parameter", key=name, param="pagination") from None
    if number < minimum:
        raise InvalidQuery(f"Invalid '{name}' parameter", key=name, param="pagination")
    return number


def _pagination(value: Any, limits: QueryLimits) -> Pagination:
    if value is None:
        return Pagination(limit=limits.default_page_size)
    if not isinstance(value, dict):
        raise InvalidQuery("Invalid pagination parameter", key="pagination", param="pagination")
    unknown = set(value) - {"page", "pageSize", "start", "limit", "withCount"}
    if unknown:
        bad = sorted(unknown)[0]
        raise InvalidQuery(f"Invalid key {bad}", key=bad, param="pagination")
    with_count = str(value.get("withCount", "true")).lower() not in ("false", "0")
    by_page = "page" in value or "pageSize" in value
    if by_page and ("start" in value or "limit" in value):
        raise InvalidQuery(
            "Cannot use both page & offset pagination in the same query", key="pagination", param="pagination"
        )
    if by_page:
        page = _int(value.get("page", 1), "page", minimum=1)
        size = min(_int(value.get("pageSize", limits.default_page_size), "pageSize", minimum=1), limits.max_page_size)
        return Pagination(offset=(page - 1) * size, limit=size, by_page=True, with_count=with_count)
    start = _int(value.get("start", 0), "start", minimum=0)
    raw_limit = value.get("limit", limits.default_page_size)
    # Strapi reads limit=-1 as "everything", which its maxLimit then caps: the same cap here.
    limit = limits.max_page_size if str(raw_limit) == "-1" else _int(raw_limit, "limit", minimum=1)
    return Pagination(offset=start, limit=min(limit, limits.max_page_size), by_page=False, with_count=with_count)


def parse_locale(ctype: ContentType, raw: Any, limits: QueryLimits, *, allow_all: bool = False) -> str | None:
    """The locale a request targets: ``""`` for a type without i18n, the default locale when none is named.

    Raises:
        InvalidQuery: the locale is not one of the hub's locales.
    """
    if not ctype.localized:
        return ""
    if raw is None or raw == "":
        return limits.default_locale
    if raw == "*" and allow_all:
        return None
    if not isinstance(raw, str) or raw not in limits.locales:
        raise InvalidQuery(f"Invalid locale {raw}", key="locale", param="locale")
    return raw


def parse_status(ctype: ContentType, raw: Any) -> str:
    """``published`` (the REST default) or ``draft``; a type without draft & publish only has published entries.

    Raises:
        InvalidQuery: any other value.
    """
    if raw is None or raw == "":
        return "published"
    if raw not in ("draft", "published"):
        raise InvalidQuery("Invalid status. Expected 'draft' or 'published'", key="status", param="status")
    return str(raw) if ctype.draft_and_publish else "published"


def parse_query(
    ctype: ContentType, registry: Registry, params: Mapping[str, Any], limits: QueryLimits, *, single: bool = False
) -> Query:
    """Validate nested query ``params`` (from :func:`baton.content.qs.parse`) for ``ctype``.

    Raises:
        InvalidQuery: an unknown parameter, key, operator or value.
    """
    for key in params:
        if key not in _KNOWN:
            raise InvalidQuery(f"Invalid key {key}", key=key, param=key)
    filters = coerce_filters(ctype, registry, params["filters"]) if "filters" in params else None
    return Query(
        filters=filters,
        fields=_fields(ctype, params["fields"]) if "fields" in params else None,
        populate=_populate(ctype, registry, params["populate"]) if "populate" in params else {},
        sort=_sort(ctype, params["sort"]) if "sort" in params else (),
        pagination=Pagination(limit=1) if single else _pagination(params.get("pagination"), limits),
        locale=parse_locale(ctype, params.get("locale"), limits, allow_all=not single),
        status=parse_status(ctype, params.get("status")),
    )
