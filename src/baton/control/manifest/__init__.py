"""The system manifest, ``baton.yaml``: schema, loading with file:line errors, JSON Schema for editors."""

from __future__ import annotations

import json
from typing import Any

from baton.control.manifest.loader import load_manifest, parse_manifest
from baton.control.manifest.models import Manifest, Problem
from baton.control.manifest.sections import (
    AlertingSpec,
    Backends,
    EventStreamSpec,
    RolloutSpec,
    RouteSpec,
    SagaSpec,
    SagaStepSpec,
    SloSpec,
)
from baton.control.manifest.services import ProbeSpec, ServiceSpec

__all__ = [
    "AlertingSpec",
    "Backends",
    "EventStreamSpec",
    "Manifest",
    "ProbeSpec",
    "Problem",
    "RolloutSpec",
    "RouteSpec",
    "SagaSpec",
    "SagaStepSpec",
    "ServiceSpec",
    "SloSpec",
    "load_manifest",
    "manifest_schema",
    "manifest_schema_json",
    "parse_manifest",
]


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of ``baton.yaml`` (for editors: ``# yaml-language-server: $schema=...``)."""
    schema = Manifest.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Baton system manifest (baton.yaml)"
    return schema


def manifest_schema_json() -> str:
    """:func:`manifest_schema` as indented JSON text."""
    return json.dumps(manifest_schema(), indent=2, sort_keys=False) + "\n"
