"""The upstream's OpenAPI document, read for two things: request body schemas and fields marked internal.

Operations are matched by method and path template (``/v1/items/{id}``); the JSON request body is checked
with ``jsonschema`` (OpenAPI 3.1 is JSON Schema 2020-12; ``#/components/...`` references resolve against the
document's components). Properties carrying ``x-internal: true`` name fields the response filter strips.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

# jsonschema is imported by the first OpenApiSchemas: importing it loads every optional format library it finds
# (rfc3987_syntax compiles 38 lark grammars: ~1 s of CPU), which the control plane and a gateway without
# `validation.openapi` routes would pay at start for nothing.

_PARAM = re.compile(r"\\{[^}/]+\\}")


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = _PARAM.sub("[^/]+", re.escape(template))
    return re.compile(f"^{pattern}/?$")


def _walk(node: Any) -> Iterator[Mapping[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class OpenApiSchemas:
    """Request-body validators by operation, compiled from one OpenAPI document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

        components = document.get("components", {})
        self.operations: list[tuple[str, re.Pattern[str], Any]] = []
        for template, item in (document.get("paths") or {}).items():
            for method, operation in item.items():
                if not isinstance(operation, Mapping):
                    continue
                content = (operation.get("requestBody") or {}).get("content") or {}
                schema = (content.get("application/json") or {}).get("schema")
                if schema is None:
                    continue
                root = {**schema, "components": components}
                self.operations.append((method.upper(), _template_regex(template), Draft202012Validator(root)))
        # Literal templates first, so /items/search wins over /items/{id}.
        self.operations.sort(key=lambda op: op[1].pattern.count("[^/]+"))
        self.internal_fields = frozenset(
            name
            for node in _walk(components)
            for name, prop in (node.get("properties") or {}).items()
            if isinstance(prop, Mapping) and prop.get("x-internal") is True
        )

    def validate(self, method: str, path: str, body: Any) -> str | None:
        """``None`` when ``body`` fits the operation's schema (or no schema applies), else the first error."""
        from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

        for op_method, pattern, validator in self.operations:
            if op_method == method and pattern.match(path):
                error = best_match(validator.iter_errors(body))
                if error is None:
                    return None
                where = "/".join(str(p) for p in error.absolute_path) or "body"
                return f"{where}: {error.message}"
        return None
