"""The manifest: valid files load; invalid ones are rejected with file:line, dotted field and a hint."""

from __future__ import annotations

import json
import textwrap

import pytest

from baton.control.manifest import load_manifest, manifest_schema, parse_manifest
from baton.errors import ManifestError

VALID = """\
name: shop
backends:
  bus: embedded
  db: sqlite
policies:
  named:
    fast: {timeout: {per_try: 1s}}
  targets: {catalog: fast}
services:
  catalog:
    module: apps.catalog.service:service
    replicas: 2
    env: {PAGE_SIZE: 20, DEBUG: true}
    policies: [fast]
  order:
    module: apps.order.service:service
    depends_on: [catalog]
    probes: {interval: 250ms}
  gateway:
    command: ["{python}", "-m", "gateway"]
    port: 7780
    depends_on: [order, catalog]
routes:
  - prefix: /api/catalog
    service: catalog
    auth: jwt
events:
  catalog:
    subjects: [shop.catalog.>]
    publisher: catalog
    subscribers: [order]
sagas:
  checkout:
    orchestrator: order
    steps:
      - {name: reserve, service: catalog, compensation: release}
slos:
  - {name: catalog-availability, service: catalog, objective: 99.5}
rollouts:
  catalog: {strategy: canary, steps: [10, 50, 100], interval: 1m}
"""


def test_a_valid_manifest_loads_with_typed_values() -> None:
    manifest = parse_manifest(VALID)
    assert manifest.name == "shop"
    assert manifest.services["catalog"].replicas == 2
    assert manifest.services["catalog"].env == {"PAGE_SIZE": "20", "DEBUG": "true"}
    assert manifest.services["order"].probes.interval == 0.25
    assert manifest.rollouts["catalog"].interval == 60.0
    assert manifest.start_order() == [["catalog"], ["order"], ["gateway"]]


def test_independent_services_share_a_start_layer() -> None:
    manifest = parse_manifest(
        "name: s\nservices:\n  a: {command: [x]}\n  b: {command: [x]}\n  c: {command: [x], depends_on: [a, b]}\n"
    )
    assert manifest.start_order() == [["a", "b"], ["c"]]


# (manifest text, line, field, words in the message, words in the hint)
INVALID = [
    pytest.param(
        "name: s\nservices:\n  a:\n    command: [x]\n    replcas: 2\n",
        5,
        "services.a.replcas",
        "unknown field 'replcas'",
        "did you mean 'replicas'",
        id="typo-in-a-service-key",
    ),
    pytest.param(
        "name: s\nservcies:\n  a: {command: [x]}\n",
        2,
        "servcies",
        "unknown field",
        "did you mean 'services'",
        id="typo-at-top-level",
    ),
    pytest.param(
        "name: s\nservices:\n  a:\n    command: [x]\n    replicas: lots\n",
        5,
        "services.a.replicas",
        "valid integer",
        "whole number",
        id="wrong-type",
    ),
    pytest.param(
        "name: s\nservices:\n  a: {command: [x]}\nroutes:\n  - prefix: /a\n    service: a\n    auth: basic\n",
        7,
        "routes[0].auth",
        "value not allowed",
        "'none' or 'jwt'",
        id="enum-lists-allowed-values",
    ),
    pytest.param(
        "name: s\nservices:\n  a:\n    replicas: 1\n",
        3,
        "services.a",
        "exactly one of 'module' or 'command'",
        None,
        id="neither-module-nor-command",
    ),
    pytest.param(
        "name: s\nservices:\n  a:\n    module: not-a-module\n",
        4,
        "services.a.module",
        "pattern",
        "package.module:attribute",
        id="bad-module-reference",
    ),
    pytest.param(
        "name: s\nservices:\n  a: {command: [x]}\n  b:\n    command: [x]\n    depends_on: [a, cee]\n",
        6,
        "services.b.depends_on[1]",
        "unknown service 'cee'",
        "expected one of: a, b",
        id="unknown-dependency",
    ),
    pytest.param(
        "name: s\nservices:\n  alpha: {command: [x]}\n  b:\n    command: [x]\n    depends_on: [alpah]\n",
        6,
        "services.b.depends_on[0]",
        "unknown service 'alpah'",
        "did you mean 'alpha'",
        id="dependency-typo",
    ),
    pytest.param(
        "name: s\nservices:\n  a:\n    command: [x]\n    depends_on: [b]\n  b:\n    command: [x]\n"
        "    depends_on: [c]\n  c:\n    command: [x]\n    depends_on: [a]\n",
        5,
        "services.a.depends_on",
        "dependency cycle: a -> b -> c -> a",
        "remove one",
        id="cycle-is-named",
    ),
    pytest.param(
        "name: s\nservices:\n  a: {command: [x], port: 7780}\n  b:\n    command: [x]\n    port: 7780\n",
        6,
        "services.b.port",
        "already used by service 'a'",
        None,
        id="port-clash",
    ),
    pytest.param(
        "name: s\nservices:\n  a: {command: [x], port: 7780, replicas: 2}\n",
        3,
        "services.a",
        "fixed 'port' allows only one replica",
        None,
        id="fixed-port-with-replicas",
    ),
    pytest.param(
        "name: s\nservices:\n  Bad_Name: {command: [x]}\n",
        3,
        "services.Bad_Name",
        "invalid name",
        "lower-case",
        id="bad-service-name",
    ),
    pytest.param(
        "name: s\nservices:\n  a: {command: [x], policies: [fsat]}\npolicies:\n  named:\n    fast: {}\n",
        3,
        "services.a.policies[0]",
        "unknown policy 'fsat'",
        "did you mean 'fast'",
        id="unknown-policy",
    ),
    pytest.param(
        "name: s\nbackends:\n  bus: kafka://x\nservices:\n  a: {command: [x]}\n",
        3,
        "backends.bus",
        "'embedded' or a nats:// URL",
        None,
        id="bad-backend",
    ),
    pytest.param(
        "name: s\nservices:\n  a:\n    command: [x]\n    probes: {interval: soon}\n",
        5,
        "services.a.probes.interval",
        "duration",
        None,
        id="bad-duration",
    ),
    pytest.param("name: s\n", 1, "services", "required field is missing", "add 'services:'", id="missing"),
    pytest.param("name: s\nservices: [\n", 3, None, "invalid YAML", None, id="yaml-syntax"),
    pytest.param("name: s\nname: t\nservices: {}\n", 2, None, "invalid YAML", None, id="duplicate-key"),
    pytest.param("- just a list\n", 1, None, "must be a mapping", "start with", id="not-a-mapping"),
]


@pytest.mark.parametrize(("text", "line", "field", "message", "hint"), INVALID)
def test_invalid_manifests_name_file_line_field_and_hint(
    text: str, line: int, field: str | None, message: str, hint: str | None
) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, file="sys/baton.yaml")
    error = caught.value
    assert error.file == "sys/baton.yaml"
    assert error.line == line, str(error)
    assert error.field == field, str(error)
    assert message in error.message, str(error)
    if hint is not None:
        assert hint in (error.hint or ""), str(error)
    assert str(error).startswith(f"sys/baton.yaml:{line}: ")


def test_every_problem_is_kept_and_the_first_in_file_order_is_raised() -> None:
    text = "name: s\nservices:\n  a:\n    command: [x]\n    replcas: 2\n  b:\n    comand: [x]\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text)
    problems = caught.value.problems  # type: ignore[attr-defined]
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert caught.value.line == 5
    assert "and 1 more problem" in caught.value.message or "more problems" in caught.value.message
    assert any(p.field == "services.b.comand" for p in problems)


def test_missing_file_is_a_manifest_error_with_a_hint(tmp_path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path / "nope.yaml")
    assert "cannot read" in caught.value.message
    assert caught.value.hint
    assert "-f" in caught.value.hint


def test_load_from_file_names_that_file(tmp_path) -> None:
    path = tmp_path / "baton.yaml"
    path.write_text(textwrap.dedent("name: s\nservices:\n  a: {command: [x], replicas: -1}\n"))
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert caught.value.file == str(path)
    assert caught.value.line == 3


def test_json_schema_describes_services_and_forbids_unknown_keys() -> None:
    schema = manifest_schema()
    json.dumps(schema)  # must be serialisable for editors
    service = schema["$defs"]["ServiceSpec"]
    assert service["additionalProperties"] is False
    assert {"module", "command", "replicas", "depends_on", "env"} <= set(service["properties"])
    assert schema["required"] == ["name", "services"]


def test_shipped_schema_is_current() -> None:
    from pathlib import Path

    from baton.control.manifest import manifest_schema_json

    shipped = Path(__file__).resolve().parents[3] / "docs" / "baton.schema.json"
    assert shipped.read_text() == manifest_schema_json(), "regenerate with: baton schema -o docs/baton.schema.json"


def test_invalid_resilience_policies_are_rejected_with_the_field_named(tmp_path) -> None:
    path = tmp_path / "baton.yaml"
    path.write_text(
        "name: s\nservices:\n  a: {command: [x]}\npolicies:\n  named:\n    fast: {retry: {max_attempts: lots}}\n"
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert caught.value.field is not None
    assert caught.value.field.startswith("policies.named.fast.retry")
    assert caught.value.line == 6


def test_allow_lists_name_known_callers_and_route_prefixes() -> None:
    base = "name: s\nservices:\n  a:\n    command: [x]\n  b:\n    command: [x]\n    allow:\n"
    parsed = parse_manifest(base + '      /v1/stock: [a, operator, "*"]\n')
    assert parsed.services["b"].allow == {"/v1/stock": ["a", "operator", "*"]}
    with pytest.raises(ManifestError) as caught:
        parse_manifest(base + "      /v1/stock: [c]\n", file="sys/baton.yaml")
    assert caught.value.line == 8, str(caught.value)
    assert "unknown service 'c'" in caught.value.message
    with pytest.raises(ManifestError) as caught:
        parse_manifest(base + "      v1/stock: [a]\n", file="sys/baton.yaml")
    assert caught.value.line == 8, str(caught.value)
