"""Load ``baton.yaml``: YAML that remembers its lines, pydantic validation, errors that name file:line:field.

ruamel.yaml's round-trip loader keeps the line of every key and list item, so a pydantic error location such
as ``('services', 'hello', 'replicas')`` maps back to the line the user wrote. Unknown keys get a did-you-mean
hint, closed choices list their allowed values; the first problem (in file order) is raised as a
:class:`~baton.errors.ManifestError` carrying all of them in ``problems``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from baton.control.manifest.models import Loc, Manifest, Problem, did_you_mean
from baton.errors import ManifestError

_HINTS_BY_TYPE = {
    "string_pattern_mismatch": None,  # filled per field below
    "missing": "add this field",
    "int_parsing": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "dict_type": "write a mapping (key: value lines)",
    "list_type": "write a list ([a, b] or '- item' lines)",
}


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate the manifest at ``path``.

    Raises:
        ManifestError: the file is missing, is not valid YAML, or breaks the schema or a cross-field rule.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(
            f"cannot read the manifest: {exc.strerror or exc}",
            file=str(file),
            hint="pass the manifest with -f/--file, or run where baton.yaml is",
        ) from exc
    return parse_manifest(text, file=str(file))


def parse_manifest(text: str, *, file: str = "baton.yaml") -> Manifest:
    """Validate manifest ``text``; ``file`` only names the source in errors.

    Raises:
        ManifestError: invalid YAML, schema violation, or cross-field problem.
    """
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ManifestError(f"invalid YAML: {exc.problem or exc.context}", file=file, line=line) from exc
    except YAMLError as exc:
        raise ManifestError(f"invalid YAML: {exc}", file=file) from exc
    if not isinstance(tree, CommentedMap):
        raise ManifestError(
            "the manifest must be a mapping", file=file, line=1, hint="start with 'name:' and 'services:'"
        )
    try:
        manifest = Manifest.model_validate(_plain(tree))
    except ValidationError as exc:
        problems = [_from_pydantic(error, tree) for error in exc.errors()]
        raise _first(problems, tree, file) from None
    problems = manifest.problems()
    if problems:
        raise _first(problems, tree, file)
    return manifest


def _first(problems: list[Problem], tree: CommentedMap, file: str) -> ManifestError:
    ranked = sorted(problems, key=lambda p: (p.secondary, line_of(tree, p.loc) or 0))
    errors = [
        ManifestError(p.message, file=file, line=line_of(tree, p.loc), field=dotted(p.loc), hint=p.hint) for p in ranked
    ]
    first = errors[0]
    if len(errors) > 1:
        first = ManifestError(
            f"{first_message(first)} (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})",
            file=file,
            line=first.line,
            field=first.field,
            hint=first.hint,
        )
    first.problems = errors  # type: ignore[attr-defined]
    return first


def first_message(error: ManifestError) -> str:
    """The bare message of a :class:`ManifestError` (without location and hint)."""
    text = error.message
    prefix = f"{error.file}:{error.line}: " if error.line else f"{error.file}: "
    text = text.removeprefix(prefix).removeprefix(f"{error.field}: " if error.field else "")
    return text.split(" (hint: ")[0]


def _from_pydantic(error: ErrorDetails, tree: CommentedMap) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        return Problem(loc, f"unknown field '{key}'", did_you_mean(key, allowed_keys(loc[:-1])))
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
        return Problem(
            loc,
            f"invalid name '{loc[-1]}'",
            "names are lower-case letters, digits and '-', starting with a letter",
        )
    if kind == "missing":
        return Problem(loc, "required field is missing", f"add '{loc[-1]}:' here", secondary=True)
    message = error["msg"].removeprefix("Value error, ")
    hint = _HINTS_BY_TYPE.get(kind)
    if kind == "literal_error":
        hint = "allowed values: " + str(error.get("ctx", {}).get("expected", ""))
        message = "value not allowed"
    elif kind == "string_pattern_mismatch":
        field = next((str(part) for part in reversed(loc) if isinstance(part, str)), "")
        hint = {
            "module": "write it as package.module:attribute, e.g. apps.hello.service:service",
            "prefix": "paths start with '/'",
        }.get(field, "names are lower-case letters, digits and '-', starting with a letter")
    return Problem(loc, message, hint)


def allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """Field names accepted by the model found at ``loc`` (empty when ``loc`` is not a model)."""
    current: Any = Manifest
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
        else:
            args = typing.get_args(current)
            origin = typing.get_origin(current)
            if origin is dict and len(args) == 2:
                current = args[1]
            elif origin is list and args:
                current = args[0]
            else:
                return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def line_of(tree: CommentedMap, loc: Loc) -> int | None:
    """1-based line of the deepest node of ``loc`` present in ``tree`` (the key's line for mappings)."""
    node: Any = tree
    line: int | None = 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def dotted(loc: Loc) -> str:
    """``('routes', 0, 'service')`` → ``routes[0].service``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _plain(node: Any) -> Any:
    # ruamel's round-trip types (CommentedMap, ScalarFloat, ...) are subclasses; hand pydantic plain ones.
    if isinstance(node, dict):
        return {_plain(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (str, int, float):
        if isinstance(node, kind):
            return kind(node)
    return node
