"""Static and DNS backends, the URL/name factory and the registration component (with a static registry)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from baton.discovery import (
    DnsRegistry,
    Instance,
    RegistrationComponent,
    StaticRegistry,
    registry_from_name,
    registry_from_url,
)
from baton.discovery.codec import decode_instance, encode_instance
from baton.errors import BrokerUnavailable, ConfigError
from baton.kit.component import Component, InstanceContext
from baton.kit.settings import InstanceSettings

A = Instance(service="inventory", id="inventory-1", host="127.0.0.1", port=8001)
B = Instance(service="inventory", id="inventory-2", host="127.0.0.1", port=8002)


async def test_static_register_resolve_deregister() -> None:
    registry = StaticRegistry([A])
    assert await registry.resolve("inventory") == [A]
    await registry.register(B)
    assert await registry.resolve("inventory") == [A, B]
    await registry.deregister(A)
    assert await registry.resolve("inventory") == [B]
    assert await registry.resolve("catalog") == []


async def test_static_watch_yields_current_then_changes() -> None:
    registry = StaticRegistry([A])
    seen: list[list[str]] = []

    async def follow() -> None:
        async for instances in registry.watch("inventory"):
            seen.append([i.id for i in instances])

    task = asyncio.create_task(follow())
    try:
        await _until(lambda: seen == [["inventory-1"]])
        await registry.register(B)
        await _until(lambda: seen[-1] == ["inventory-1", "inventory-2"])
        await registry.register(Instance(service="catalog", id="catalog-1", host="h", port=1))
        await registry.deregister(A)
        await _until(lambda: seen[-1] == ["inventory-2"])
        assert len(seen) == 3  # the catalog change did not wake inventory watchers with a new list
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _until(condition) -> None:
    from baton.testing import wait_until

    await wait_until(condition, timeout=2)


async def test_dns_resolves_the_kubernetes_name() -> None:
    asked: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["10.0.0.7", "10.0.0.9"]

    registry = DnsRegistry(namespace="shop", port=8080, resolver=resolver)
    instances = await registry.resolve("inventory")
    assert asked == [("inventory.shop.svc.cluster.local", 8080)]
    assert [(i.host, i.port, i.id) for i in instances] == [
        ("10.0.0.7", 8080, "inventory@10.0.0.7:8080"),
        ("10.0.0.9", 8080, "inventory@10.0.0.9:8080"),
    ]


async def test_dns_unresolvable_name_means_no_instances() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        raise OSError("NXDOMAIN")

    assert await DnsRegistry(resolver=resolver).resolve("ghost") == []


async def test_dns_with_the_system_resolver_on_localhost() -> None:
    registry = DnsRegistry(name_template="localhost", port=1234)
    instances = await registry.resolve("anything")
    assert instances
    assert all(i.port == 1234 for i in instances)


async def test_dns_watch_yields_only_on_change() -> None:
    answers = [["10.0.0.1"], ["10.0.0.1"], ["10.0.0.1", "10.0.0.2"]]

    async def resolver(host: str, port: int) -> list[str]:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    registry = DnsRegistry(resolver=resolver, interval=0.01)
    updates = registry.watch("inventory")
    first = await anext(updates)
    second = await anext(updates)
    await updates.aclose()
    assert [len(first), len(second)] == [1, 2]


def test_codec_round_trip_and_errors() -> None:
    instance = Instance(service="s", id="s-1", host="h", port=1, version="2.0", metadata={"zone": "a"})
    decoded = decode_instance(encode_instance(instance))
    assert decoded == instance
    assert decoded.metadata == {"zone": "a"}
    with pytest.raises(ConfigError, match="invalid instance record"):
        decode_instance(b'{"id": 1}')


def test_registry_from_url() -> None:
    static = registry_from_url("static://?inventory=127.0.0.1:8001,127.0.0.1:8002")
    assert isinstance(static, StaticRegistry)
    dns = registry_from_url("dns://shop?port=8080&domain=example.local")
    assert isinstance(dns, DnsRegistry)
    assert (dns.namespace, dns.port, dns.hostname("x")) == ("shop", 8080, "x.shop.svc.example.local")
    with pytest.raises(ConfigError, match="scheme"):
        registry_from_url("zookeeper://x")
    with pytest.raises(ConfigError, match="NATS connection"):
        registry_from_url("nats-kv://bucket")


async def test_static_url_lists_instances() -> None:
    registry = registry_from_url("static://?inventory=127.0.0.1:8001,127.0.0.1:8002")
    assert [(i.id, i.port) for i in await registry.resolve("inventory")] == [
        ("inventory-1", 8001),
        ("inventory-2", 8002),
    ]


def test_registry_from_name() -> None:
    assert isinstance(registry_from_name("static"), StaticRegistry)
    assert isinstance(registry_from_name("dns", namespace="x"), DnsRegistry)
    with pytest.raises(ConfigError, match="static, nats_kv, dns"):
        registry_from_name("consul")


async def test_registration_component_lifecycle_with_ready_flips() -> None:
    registry = StaticRegistry()
    component = RegistrationComponent(lambda ctx: registry)
    assert isinstance(component, Component)
    settings = InstanceSettings(service="inventory", instance="inventory-3", host="0.0.0.0", port=8103, version="1.2")
    ctx = InstanceContext(service="inventory", instance="inventory-3", settings=settings)
    await component.start(ctx)
    await component.check()
    assert await registry.resolve("inventory") == []  # nothing announced before the kit says it is ready
    await component.mark_ready()
    [registered] = await registry.resolve("inventory")
    assert (registered.id, registered.host, registered.port, registered.version) == (
        "inventory-3", "127.0.0.1", 8103, "1.2",
    )  # fmt: skip
    await component.mark_unready()
    assert await registry.resolve("inventory") == []
    await component.mark_ready()
    assert len(await registry.resolve("inventory")) == 1
    await component.drain()
    assert await registry.resolve("inventory") == []
    await component.mark_ready()  # a readiness flip racing the drain does not bring it back
    assert await registry.resolve("inventory") == []
    await component.stop()
    await component.stop()  # idempotent


class _FlakyRegistry(StaticRegistry):
    broken = True

    async def register(self, instance: Instance) -> None:
        if self.broken:
            raise BrokerUnavailable("KV bucket unreachable")
        await super().register(instance)


async def test_registration_failure_is_reported_by_the_check_and_retried() -> None:
    registry = _FlakyRegistry()
    component = RegistrationComponent(lambda ctx: registry)
    settings = InstanceSettings(service="inventory", instance="inventory-4", port=8104)
    await component.start(InstanceContext(service="inventory", instance="inventory-4", settings=settings))
    with pytest.raises(BrokerUnavailable):
        await component.mark_ready()
    with pytest.raises(RuntimeError, match="cannot register in discovery: KV bucket unreachable"):
        await component.check()
    assert not component.registered
    registry.broken = False
    await component.mark_ready()  # the monitor's next attempt
    await component.check()
    assert [i.id for i in await registry.resolve("inventory")] == ["inventory-4"]
