"""Small value types shared by the manifest's sections: names, durations, module references."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, WithJsonSchema

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$"
"""Service and section names: lower-case DNS labels, so they work as hostnames, subjects and env prefixes."""

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""A lower-case, DNS-label-like name (``catalog``, ``order-api``)."""

ModuleRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")]
"""``package.module:attribute`` of a :class:`~baton.kit.service.Service` object."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> Any:
    """Turn ``"250ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"7d"`` or a number of seconds into seconds.

    Anything else is passed through untouched so pydantic reports it with its own message.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        raise ValueError("expected a duration such as '250ms', '30s', '5m', '2h' or '7d'")
    return value


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d)?$"},
            ],
            "description": "Seconds, or a string like '250ms', '30s', '5m', '2h', '7d'.",
        }
    ),
]
"""A non-negative duration in seconds (written as a number or a string with a unit)."""


def _stringify(value: Any) -> Any:
    # YAML reads `PORT: 80` or `DEBUG: true` as int/bool; environment variables are strings, so we convert
    # here once instead of surprising the user with a type error.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


EnvValue = Annotated[str, BeforeValidator(_stringify)]
"""An environment variable value; YAML scalars (numbers, booleans) are turned into strings."""


class Section(BaseModel):
    """Base of every manifest section: unknown keys are errors (with a did-you-mean hint), values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
