"""The system manifest (``baton.yaml``) as a pydantic model, with the checks that span sections."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from baton.control.manifest.sections import (
    AlertingSpec,
    Backends,
    EventStreamSpec,
    GatewaySpec,
    RolloutSpec,
    RouteSpec,
    SagaSpec,
    SloSpec,
)
from baton.control.manifest.services import ServiceSpec
from baton.control.manifest.types import Name, Section

Loc = tuple[str | int, ...]

BUILTIN_POLICIES = frozenset({"default", "none"})
"""Policy names that need no entry in ``policies``."""


@dataclass(frozen=True, slots=True)
class Problem:
    """A cross-field problem found after the schema passed; ``loc`` points at the offending node."""

    loc: Loc
    message: str
    hint: str | None = None
    secondary: bool = False
    """Reported after the others: a missing field is usually explained by a misspelt one next to it."""


class Manifest(Section):
    """``baton.yaml``: the whole system in one file."""

    name: Name
    """System name (prefix of event types, shown in the dashboard)."""
    backends: Backends = Field(default_factory=Backends)
    services: dict[Name, ServiceSpec] = Field(min_length=1)
    policies: dict[str, Any] = Field(default_factory=dict)
    """Resilience policies in :mod:`baton.resilience.config`'s shape — ``named`` policies, their ``targets``
    (``service`` or ``service:/route/prefix``) and an optional ``default`` — passed to every instance as
    ``BATON_POLICIES``; a service's own ``policies: [name]`` makes that policy the default of its outgoing calls."""
    routes: list[RouteSpec] = Field(default_factory=list)
    gateway: GatewaySpec = Field(default_factory=GatewaySpec)
    """The gateway's issuers (its routes are ``routes``)."""
    events: dict[Name, EventStreamSpec] = Field(default_factory=dict)
    sagas: dict[Name, SagaSpec] = Field(default_factory=dict)
    slos: list[SloSpec] = Field(default_factory=list)
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)
    """Incident notifications (webhook) for the SLO alerts."""
    rollouts: dict[Name, RolloutSpec] = Field(default_factory=dict)
    """Delivery strategy per service."""

    def problems(self) -> list[Problem]:
        """Every cross-section problem: unknown references, dependency cycles, port clashes."""
        found = list(self._unknown_references())
        found += self._port_clashes()
        found += self._invalid_policies()
        cycle = self.dependency_cycle()
        if cycle:
            found.append(
                Problem(
                    ("services", cycle[0], "depends_on"),
                    "dependency cycle: " + " -> ".join([*cycle, cycle[0]]),
                    "remove one of these depends_on entries",
                )
            )
        return found

    def dependency_cycle(self) -> list[str] | None:
        """One dependency cycle as a list of service names, or ``None`` when the graph is acyclic."""
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        path: list[str] = []

        def visit(name: str) -> list[str] | None:
            state[name] = 1
            path.append(name)
            for dep in self.services[name].depends_on:
                if dep not in self.services:
                    continue
                if state.get(dep) == 1:
                    return path[path.index(dep) :]
                if dep not in state and (cycle := visit(dep)):
                    return cycle
            path.pop()
            state[name] = 2
            return None

        for name in self.services:
            if name not in state and (cycle := visit(name)):
                return cycle
        return None

    def start_order(self) -> list[list[str]]:
        """Services in dependency layers: each layer only depends on earlier ones and starts in parallel."""
        remaining = {name: set(spec.depends_on) & set(self.services) for name, spec in self.services.items()}
        layers: list[list[str]] = []
        while remaining:
            layer = sorted(name for name, deps in remaining.items() if not deps)
            if not layer:  # a cycle; problems() reports it, refuse to guess an order
                raise ValueError("dependency cycle among " + ", ".join(sorted(remaining)))
            layers.append(layer)
            for name in layer:
                del remaining[name]
            for deps in remaining.values():
                deps.difference_update(layer)
        return layers

    def _unknown_references(self) -> Iterator[Problem]:
        services = list(self.services)
        policies = set(self.named_policies()) | BUILTIN_POLICIES
        for name, spec in self.services.items():
            for i, dep in enumerate(spec.depends_on):
                if dep == name:
                    yield Problem(("services", name, "depends_on", i), "a service cannot depend on itself")
                else:
                    yield from _reference(("services", name, "depends_on", i), dep, services, "service")
            for i, policy in enumerate(spec.policies):
                yield from _reference(("services", name, "policies", i), policy, policies, "policy")
            # Callers in allow lists: services of the system, "*", or the operator identity tools use.
            callers = [*services, "*", "operator"]
            for prefix, names in (spec.allow or {}).items():
                for i, caller in enumerate(names):
                    yield from _reference(("services", name, "allow", prefix, i), caller, callers, "service")
        for i, route in enumerate(self.routes):
            yield from _reference(("routes", i, "service"), route.service, services, "service")
        for i, issuer in enumerate(self.gateway.issuers):
            if issuer.jwks_url and issuer.jwks_url.startswith("baton://"):
                service = issuer.jwks_url.removeprefix("baton://").partition("/")[0]
                yield from _reference(("gateway", "issuers", i, "jwks_url"), service, services, "service")
        for name, stream in self.events.items():
            if stream.publisher:
                yield from _reference(("events", name, "publisher"), stream.publisher, services, "service")
            for i, sub in enumerate(stream.subscribers):
                yield from _reference(("events", name, "subscribers", i), sub, services, "service")
        for name, saga in self.sagas.items():
            yield from _reference(("sagas", name, "orchestrator"), saga.orchestrator, services, "service")
            for i, step in enumerate(saga.steps):
                yield from _reference(("sagas", name, "steps", i, "service"), step.service, services, "service")
        for i, slo in enumerate(self.slos):
            yield from _reference(("slos", i, "service"), slo.service, services, "service")
        for name in self.rollouts:
            yield from _reference(("rollouts", name), name, services, "service")

    def named_policies(self) -> dict[str, Any]:
        """The ``policies.named`` mapping (empty when absent or malformed; :meth:`problems` reports the latter)."""
        named = self.policies.get("named")
        return named if isinstance(named, dict) else {}

    def _invalid_policies(self) -> list[Problem]:
        # Imported here: the resilience package is only needed when a manifest declares policies.
        from baton.errors import ConfigError
        from baton.resilience.config import policies_from_mapping

        try:
            policies_from_mapping(self.policies)
        except ConfigError as exc:
            field, _, message = exc.message.partition(": ")
            loc: Loc = tuple(part for part in field.split(".") if part) if message else ("policies",)
            return [Problem(loc, message or exc.message, "see the policies shape in docs/client.md")]
        return []

    def _port_clashes(self) -> list[Problem]:
        owner: dict[int, str] = {}
        found = []
        for name, spec in self.services.items():
            if spec.port is None:
                continue
            if spec.port in owner:
                found.append(
                    Problem(
                        ("services", name, "port"),
                        f"port {spec.port} is already used by service '{owner[spec.port]}'",
                        "give each service its own port, or drop 'port' to get one from 7800 upwards",
                    )
                )
            owner.setdefault(spec.port, name)
        return found


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice to ``word``, or listing the choices when none is close."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if options and len(options) <= 12:
        return "expected one of: " + ", ".join(options)
    return None


def _reference(loc: Loc, name: str, known: Iterable[str], kind: str) -> Iterator[Problem]:
    known = list(known)
    if name not in known:
        yield Problem(loc, f"unknown {kind} '{name}'", did_you_mean(name, known))
