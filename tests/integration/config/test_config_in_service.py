"""LiveConfig inside a real kit Service: a config change shows up in what the running service answers."""

from __future__ import annotations

import httpx
import nats
import pytest
from pydantic_settings import SettingsConfigDict

from baton.control.config import ConfigStore
from baton.kit.live_config import LiveConfig
from baton.kit.settings import InstanceSettings, ServiceSettings
from baton.testing import wait_until

service_module = pytest.importorskip("baton.kit.service")

pytestmark = pytest.mark.integration


class ShelfSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHELF_")

    page_size: int = 20


async def test_running_service_answers_with_the_new_value_without_restart(nats_url, tmp_path):
    service = service_module.Service("shelf", settings=ShelfSettings)
    service.add_component(LiveConfig(service))

    @service.get("/v1/page-size")
    async def page_size() -> dict[str, int]:
        return {"page_size": service.settings.page_size}

    writer = await nats.connect(nats_url)
    try:
        store = await ConfigStore.open(writer.jetstream())
        await store.set("shelf.page_size", "30")  # set before start: read at start
        instance = InstanceSettings(service="shelf", instance="shelf-1", home=tmp_path, nats_url=nats_url)
        async with service.running(instance):
            transport = httpx.ASGITransport(app=service.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shelf") as client:

                async def answered() -> int:
                    return int((await client.get("/v1/page-size")).json()["page_size"])

                assert await answered() == 30
                await store.set("shelf.page_size", "45")
                await wait_until(lambda: _equals(answered(), 45), timeout=1.0)
    finally:
        await writer.close()


async def _equals(value, expected) -> bool:
    return await value == expected
