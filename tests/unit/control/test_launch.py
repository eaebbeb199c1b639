"""An instance's command line and environment: the contract with the kit's InstanceSettings."""

from __future__ import annotations

import sys
from pathlib import Path

from baton.control.launch import LaunchContext, argv_for, database_url, environment_for, import_root, serves_tls
from baton.control.manifest import parse_manifest
from baton.kit.settings import InstanceSettings

MANIFEST = """\
name: shop
backends: {db: "postgresql://pg@db:5432/shop"}
services:
  catalog:
    module: apps.catalog.service:service
    version: "1.2"
    env: {CATALOG_PAGE: 20, BATON_PORT: "1"}
    drain_delay: 750ms
  worker:
    command: ["{python}", "worker.py"]
    database: "sqlite+aiosqlite:////tmp/w.db"
"""


def context(tmp_path: Path) -> LaunchContext:
    return LaunchContext(
        manifest=parse_manifest(MANIFEST),
        manifest_dir=tmp_path,
        home=tmp_path / ".baton",
        nats_url="nats://127.0.0.1:4999",
        control_url="http://127.0.0.1:7700",
    )


def test_module_services_run_through_the_kit_and_commands_get_the_same_python(tmp_path) -> None:
    manifest = context(tmp_path).manifest
    assert argv_for(manifest.services["catalog"]) == [
        sys.executable,
        "-m",
        "baton.kit.serve",
        "apps.catalog.service:service",
    ]
    assert argv_for(manifest.services["worker"]) == [sys.executable, "worker.py"]


def test_environment_is_what_the_kit_reads(tmp_path, monkeypatch) -> None:
    ctx = context(tmp_path)
    env = environment_for(
        ctx,
        service="catalog",
        instance="catalog-2",
        port=7801,
        spec=ctx.manifest.services["catalog"],
        secrets=lambda service: {"CATALOG_API_KEY": f"s3cret-{service}"},
        base={"PATH": "/bin", "BATON_PORT_BASE": "9000", "BATON_INSTANCE": "x", "BATON_OTLP_ENDPOINT": "http://otel"},
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    parsed = InstanceSettings()
    assert (parsed.service, parsed.instance, parsed.version, parsed.port) == ("catalog", "catalog-2", "1.2", 7801)
    assert parsed.nats_url == "nats://127.0.0.1:4999"
    assert parsed.db_url == "postgresql+asyncpg://pg@db:5432/shop"
    assert parsed.home == tmp_path / ".baton"
    assert env["BATON_DRAIN_DELAY"] == "0.75"
    assert env["CATALOG_PAGE"] == "20"
    assert env["CATALOG_API_KEY"] == "s3cret-catalog"
    assert env["PATH"] == "/bin"
    assert "BATON_PORT_BASE" not in env  # the daemon's options never leak into an instance
    assert env["BATON_OTLP_ENDPOINT"] == "http://otel"  # the operator's other settings pass through
    # The manifest's env asked for BATON_PORT=1: the control plane's own variables win.
    assert env["BATON_PORT"] == "7801"


def test_a_failing_secret_store_does_not_stop_the_launch(tmp_path) -> None:
    ctx = context(tmp_path)

    def broken(service: str) -> dict[str, str]:
        raise RuntimeError("key file unreadable")

    env = environment_for(
        ctx, service="worker", instance="worker-1", port=7802, spec=ctx.manifest.services["worker"], secrets=broken
    )
    assert env["BATON_INSTANCE"] == "worker-1"
    assert env["BATON_DB_URL"] == "sqlite+aiosqlite:////tmp/w.db"


def test_database_url_per_backend(tmp_path) -> None:
    sqlite = LaunchContext(
        manifest=parse_manifest("name: s\nservices:\n  a: {command: [x]}\n  b: {command: [x], database: bee}\n"),
        manifest_dir=tmp_path,
        home=tmp_path,
        nats_url=None,
    )
    assert database_url(sqlite, "a", sqlite.manifest.services["a"]) is None  # the kit's default file
    assert database_url(sqlite, "b", sqlite.manifest.services["b"]) == f"sqlite+aiosqlite:///{tmp_path}/data/bee.db"
    pg = LaunchContext(
        manifest=parse_manifest(
            "name: s\nbackends: {db: 'postgresql://u@h/main'}\nservices:\n  a: {command: [x], database: orders}\n"
        ),
        manifest_dir=tmp_path,
        home=tmp_path,
        nats_url=None,
    )
    assert database_url(pg, "a", pg.manifest.services["a"]) == "postgresql+asyncpg://u@h/orders"


def test_import_root_walks_up_to_the_package(tmp_path) -> None:
    (tmp_path / "apps" / "hello").mkdir(parents=True)
    assert import_root("apps.hello.service:service", tmp_path / "apps" / "hello") == tmp_path
    assert import_root("nowhere.mod:x", tmp_path / "apps" / "hello") is None


def test_policies_reach_instances_and_a_services_own_policy_becomes_its_default(tmp_path) -> None:
    from baton.kit.clients import policies_from_env

    manifest = parse_manifest(
        "name: shop\n"
        "policies:\n"
        "  named:\n"
        "    careful: {retry: {max_attempts: 5}}\n"
        "    quick: {timeout: {per_try: 100ms}}\n"
        "  targets: {payment: careful}\n"
        "services:\n"
        "  order: {module: apps.order.service:service, policies: [quick]}\n"
        "  payment: {module: apps.payment.service:service}\n"
    )
    ctx = LaunchContext(manifest=manifest, manifest_dir=tmp_path, home=tmp_path / ".baton", nats_url=None)
    order = environment_for(ctx, service="order", instance="order-1", port=7801, spec=manifest.services["order"])
    payment = environment_for(
        ctx, service="payment", instance="payment-1", port=7802, spec=manifest.services["payment"]
    )

    order_policies = policies_from_env(order)
    assert order_policies is not None
    assert order_policies.default.name == "quick"
    assert order_policies.bindings == {"payment": "careful"}
    payment_policies = policies_from_env(payment)
    assert payment_policies is not None
    assert payment_policies.default.name != "quick"


def test_credentials_are_issued_before_the_spawn_and_reach_the_instance(tmp_path) -> None:
    manifest = parse_manifest(
        "name: s\nservices:\n  inventory:\n    module: m.s:service\n    allow: {/v1/reservations: [order]}\n"
        "  order:\n    module: m.s:service\n  gateway:\n    command: [x]\n"
    )
    issued: list[tuple[str, str]] = []

    def issue(service: str, instance: str) -> Path:
        issued.append((service, instance))
        return tmp_path / "certs" / instance

    ctx = LaunchContext(
        manifest=manifest,
        manifest_dir=tmp_path,
        home=tmp_path,
        nats_url=None,
        credentials=issue,
        control_tls_url="https://127.0.0.1:9",
        nats_tls=True,
    )
    spec = manifest.services["inventory"]
    # An operator's own BATON_TLS_DIR never reaches an instance: only the control plane hands out identities.
    env = environment_for(
        ctx, service="inventory", instance="inventory-1", port=1, spec=spec, base={"BATON_TLS_DIR": "/elsewhere"}
    )
    assert issued == [("inventory", "inventory-1")]
    assert env["BATON_TLS_DIR"] == str(tmp_path / "certs" / "inventory-1")
    assert env["BATON_CONTROL_TLS_URL"] == "https://127.0.0.1:9"
    assert env["BATON_ALLOW"] == '{"/v1/reservations":["order"]}'
    assert env["BATON_NATS_TLS"] == "1"
    order = environment_for(ctx, service="order", instance="order-1", port=2, spec=manifest.services["order"], base={})
    assert "BATON_ALLOW" not in order
    assert serves_tls(spec)
    assert not serves_tls(manifest.services["gateway"])
