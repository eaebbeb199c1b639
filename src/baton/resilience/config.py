"""The ``policies:`` section of ``baton.yaml``: named policies bound to targets.

Shape (every key optional; durations are seconds as numbers or strings such as ``"250ms"``, ``"2s"``,
``"1m"``)::

    policies:
      default: standard              # policy of targets bound to nothing (built-in defaults if omitted)
      named:
        standard:
          retry:    {max_attempts: 3, initial_backoff: 25ms, max_backoff: 1s}
          breaker:  {window_type: count, window_size: 20, minimum_calls: 10, failure_rate_threshold: 50}
          bulkhead: {max_concurrent: 64, max_queue: 128}
          timeout:  {per_try: 2s, total: 10s}
        payments:
          retry: null                # null (or `off`) disables a layer: call directly
          timeout: {per_try: 5s, total: 15s}
      targets:
        inventory: standard          # a service
        "payment:/v1/charges": payments   # a service + route prefix (longest prefix wins)

A layer omitted inside a named policy takes its documented default.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from baton.errors import ConfigError
from baton.resilience.policies import (
    DEFAULT_POLICY,
    BreakerPolicy,
    BulkheadPolicy,
    Policy,
    RetryPolicy,
    TimeoutPolicy,
)

_LAYERS: dict[str, type[Any]] = {
    "retry": RetryPolicy,
    "breaker": BreakerPolicy,
    "bulkhead": BulkheadPolicy,
    "timeout": TimeoutPolicy,
}
_DURATION_FIELDS = frozenset(
    {
        "initial_backoff",
        "max_backoff",
        "budget_window",
        "slow_call_duration",
        "wait_in_open",
        "max_wait_in_open",
        "max_wait",
        "per_try",
        "total",
    }
)
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def parse_duration(value: Any, *, where: str) -> float:
    """Seconds from a number or a string like ``"250ms"``, ``"2s"``, ``"1.5m"``.

    Raises:
        ConfigError: the value is not a duration (the message names ``where``).
    """
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(f"{where}: expected a duration such as 250ms, 2s or 1m, got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class PolicySet:
    """Named policies and the targets bound to them; resolves a call's policy."""

    policies: Mapping[str, Policy] = field(default_factory=dict)
    bindings: Mapping[str, str] = field(default_factory=dict)
    """Target key (``service`` or ``service:/route/prefix``) to policy name."""
    default: Policy = DEFAULT_POLICY
    """Policy of a target that no binding names."""

    def routes_of(self, service: str) -> list[tuple[str, str]]:
        """``(prefix, key)`` bindings of ``service``'s routes, longest prefix first."""
        found = [(key.split(":", 1)[1], key) for key in self.bindings if key.startswith(service + ":")]
        return sorted(found, key=lambda item: len(item[0]), reverse=True)

    def policy_of(self, key: str) -> Policy:
        """The policy bound to target ``key`` (or the default)."""
        name = self.bindings.get(key)
        return self.default if name is None else self.policies[name]


def _layer(kind: str, raw: Any, *, where: str) -> Any:
    if raw is None or raw is False or raw == "off":
        return None
    cls = _LAYERS[kind]
    if raw is True or raw == "default":
        return cls()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping of options, got {raw!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown option; known: {', '.join(sorted(known))}")
        if key in _DURATION_FIELDS:
            value = parse_duration(value, where=f"{where}.{key}")
        elif key == "retryable_statuses":
            value = frozenset(int(code) for code in value)
        values[key] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _policy(name: str, raw: Any) -> Policy:
    where = f"policies.named.{name}"
    if raw is None:
        return dataclasses.replace(DEFAULT_POLICY, name=name)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with retry/breaker/bulkhead/timeout")
    unknown = set(raw) - set(_LAYERS)
    if unknown:
        raise ConfigError(f"{where}: unknown layer(s) {sorted(unknown)}; known: {sorted(_LAYERS)}")
    layers = {
        kind: _layer(kind, raw[kind], where=f"{where}.{kind}") if kind in raw else cls()
        for kind, cls in _LAYERS.items()
    }
    return Policy(name=name, **layers)


def policies_from_mapping(section: Mapping[str, Any] | None) -> PolicySet:
    """Parse the ``policies:`` section of ``baton.yaml`` (see the module docstring for its shape).

    Raises:
        ConfigError: unknown keys, bad values, or a binding naming an unknown policy (message names the field).
    """
    if not section:
        return PolicySet()
    unknown = set(section) - {"default", "named", "targets"}
    if unknown:
        raise ConfigError(f"policies: unknown key(s) {sorted(unknown)}; known: default, named, targets")
    named = {name: _policy(str(name), raw) for name, raw in (section.get("named") or {}).items()}
    targets = {str(key): str(value) for key, value in (section.get("targets") or {}).items()}
    for key, name in targets.items():
        if name not in named:
            raise ConfigError(f"policies.targets.{key}: unknown policy {name!r}; named: {sorted(named)}")
        if ":" in key and not key.split(":", 1)[1].startswith("/"):
            raise ConfigError(f"policies.targets.{key}: a route target looks like 'service:/route/prefix'")
    default_name = section.get("default")
    if default_name is not None and default_name not in named:
        raise ConfigError(f"policies.default: unknown policy {default_name!r}; named: {sorted(named)}")
    default = named[default_name] if default_name is not None else DEFAULT_POLICY
    return PolicySet(policies=named, bindings=targets, default=default)
