"""Central config against a real embedded NATS: the store, and live application to running settings."""

from __future__ import annotations

import logging

import nats
import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from baton.control.config import ConfigStore
from baton.errors import ConfigError
from baton.kit.component import InstanceContext
from baton.kit.live_config import ConfigChange, LiveConfig
from baton.kit.settings import InstanceSettings, ServiceSettings
from baton.testing import wait_until

pytestmark = pytest.mark.integration


class CatalogSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_")

    page_size: int = Field(default=20, ge=1, le=100)
    greeting: str = "hello"
    featured: list[int] = []
    cache_enabled: bool = False


class FakeService:
    """Stands in for kit.Service: only the ``settings`` attribute matters to LiveConfig."""

    def __init__(self) -> None:
        self.settings = CatalogSettings()


@pytest.fixture
async def nc(nats_url):
    conn = await nats.connect(nats_url, reconnect_time_wait=0.1, max_reconnect_attempts=-1, connect_timeout=1)
    yield conn
    await conn.close()


@pytest.fixture
async def store(nc):
    return await ConfigStore.open(nc.jetstream())


def context(nc, service="catalog"):
    return InstanceContext(service=service, instance=f"{service}-1", settings=InstanceSettings(), nats=nc)


async def test_store_set_get_list_delete(store):
    first = await store.set("catalog.page_size", "25")
    await store.set("_global.greeting", "hi")
    await store.set("order.page_size", "50")

    got = await store.get("catalog.page_size")
    assert got is not None
    assert (got.value, got.revision) == ("25", first.revision)
    assert [e.key for e in await store.list()] == ["_global.greeting", "catalog.page_size", "order.page_size"]
    assert [e.key for e in await store.list(service="catalog")] == ["_global.greeting", "catalog.page_size"]

    assert await store.delete("catalog.page_size") is True
    assert await store.get("catalog.page_size") is None
    assert await store.delete("catalog.page_size") is False
    assert [e.key for e in await store.list(service="catalog")] == ["_global.greeting"]


async def test_store_keeps_history(store):
    for value in ("1", "2", "3"):
        await store.set("catalog.page_size", value)
    history = await store.kv.history("catalog.page_size")
    assert [h.value for h in history] == [b"1", b"2", b"3"]
    assert (await store.kv.status()).history >= 5


@pytest.mark.parametrize(
    "key", ["catalog", "catalog.", ".x", "Catalog.x", "catalog.a.b", "catalog.a b", "cat*log.x", "catalog.>"]
)
async def test_store_rejects_bad_keys(store, key):
    with pytest.raises(ConfigError, match="invalid config key"):
        await store.set(key, "1")


async def test_start_applies_global_then_service_override(nc, store):
    await store.set("_global.page_size", "30")
    await store.set("_global.greeting", "hi from global")
    await store.set("catalog.page_size", "40")
    await store.set("order.greeting", "not mine")
    service = FakeService()
    live = LiveConfig(service)
    await live.start(context(nc))
    try:
        assert service.settings.page_size == 40
        assert service.settings.greeting == "hi from global"
        # The overridden global key is not in force, so current() leaves it out.
        assert live.current() == {"_global.greeting": "hi from global", "catalog.page_size": "40"}
    finally:
        await live.stop()


async def test_change_reaches_running_settings_within_a_second(nc, store):
    service = FakeService()
    settings_object = service.settings
    live = LiveConfig(service)
    changes: list[ConfigChange] = []
    live.on_change(changes.append)
    seen_async: list[ConfigChange] = []

    @live.on_change
    async def remember(change: ConfigChange) -> None:
        seen_async.append(change)

    await live.start(context(nc))
    try:
        assert service.settings.page_size == 20
        await store.set("catalog.page_size", "55")
        await wait_until(lambda: service.settings.page_size == 55, timeout=1.0)
        # The same object was updated in place: code holding a reference sees the change too.
        assert settings_object is service.settings
        assert changes[-1].changed == {"page_size": 55}
        assert changes[-1].previous == {"page_size": 20}
        assert seen_async == changes

        await store.set("catalog.featured", "[3, 1]")
        await store.set("catalog.cache_enabled", "true")
        await wait_until(lambda: service.settings.featured == [3, 1] and service.settings.cache_enabled, timeout=1.0)

        await store.delete("catalog.page_size")
        await wait_until(lambda: service.settings.page_size == 20, timeout=1.0)
    finally:
        await live.stop()


async def test_invalid_value_is_rejected_and_logged_without_changing_the_setting(nc, store, caplog):
    service = FakeService()
    live = LiveConfig(service)
    await live.start(context(nc))
    try:
        await store.set("catalog.page_size", "30")
        await wait_until(lambda: service.settings.page_size == 30, timeout=1.0)
        with caplog.at_level(logging.ERROR, logger="baton.config"):
            await store.set("catalog.page_size", "999")  # above le=100
            await store.set("catalog.greeting", "still applied")
            await wait_until(lambda: service.settings.greeting == "still applied", timeout=1.0)
        assert service.settings.page_size == 30
        assert "catalog.page_size" in caplog.text
        assert "rejected" in caplog.text
        assert caplog.text.count("rejected") == 1  # once, not again at every later change
        assert live.current()["catalog.page_size"] == "30"

        await store.set("catalog.page_size", "not a number")
        await store.set("catalog.page_size", "31")
        await wait_until(lambda: service.settings.page_size == 31, timeout=1.0)
    finally:
        await live.stop()


async def test_watch_survives_a_nats_restart(nats_server, nc, store, caplog):
    service = FakeService()
    live = LiveConfig(service)
    await live.start(context(nc))
    try:
        await store.set("catalog.page_size", "21")
        await wait_until(lambda: service.settings.page_size == 21, timeout=1.0)

        caplog.set_level(logging.INFO, logger="baton.config")
        nats_server.kill()
        await wait_until(lambda: not nc.is_connected, timeout=5.0)
        nats_server.start()
        await wait_until(lambda: nc.is_connected, timeout=10.0)
        await wait_until(lambda: "re-read the bucket after a NATS reconnect" in caplog.text, timeout=5.0)

        writer = await ConfigStore.open(nc.jetstream())
        await writer.set("catalog.page_size", "22")
        await wait_until(lambda: service.settings.page_size == 22, timeout=1.0)
        await writer.set("catalog.greeting", "after restart")
        await wait_until(lambda: service.settings.greeting == "after restart", timeout=1.0)
    finally:
        await live.stop()


async def test_without_nats_the_settings_stay_as_the_environment_made_them():
    settings = CatalogSettings(page_size=33)
    live = LiveConfig(settings)
    await live.start(InstanceContext(service="catalog", instance="catalog-1", settings=InstanceSettings()))
    await live.check()
    assert (settings.page_size, live.current()) == (33, {})
    await live.stop()
