"""ServiceClients: peers found through fixed URLs or discovery, one shared client per peer."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from baton.errors import ConfigError
from baton.events.server import free_port
from baton.kit import Service
from baton.kit.clients import ServiceClients, policies_from_env, static_registry_from_env
from baton.kit.component import InstanceContext
from baton.kit.settings import InstanceSettings


def context() -> InstanceContext:
    return InstanceContext(service="order", instance="order-1", settings=InstanceSettings(service="order"))


async def test_static_urls_resolve_to_instances() -> None:
    registry = static_registry_from_env({"BATON_SERVICE_URLS": '{"inventory": "http://127.0.0.1:7801"}'})
    assert registry is not None
    [instance] = await registry.resolve("inventory")
    assert (instance.host, instance.port, instance.scheme) == ("127.0.0.1", 7801, "http")


@pytest.mark.parametrize("raw", ['["http://x:1"]', '{"inventory": "nowhere"}', "{not json"])
def test_malformed_static_urls_are_a_config_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="BATON_SERVICE_URLS"):
        static_registry_from_env({"BATON_SERVICE_URLS": raw})


def test_policies_come_from_json_and_bad_json_names_the_variable() -> None:
    assert policies_from_env({}) is None
    assert policies_from_env({"BATON_POLICIES": json.dumps({})}) is not None
    with pytest.raises(ConfigError, match="BATON_POLICIES"):
        policies_from_env({"BATON_POLICIES": "{"})


async def test_without_discovery_or_urls_start_fails_with_what_to_set() -> None:
    with pytest.raises(ConfigError, match="BATON_SERVICE_URLS"):
        await ServiceClients(environ={}).start(context())


async def test_a_peer_is_called_through_one_shared_client() -> None:
    async def stock(request: web.Request) -> web.Response:
        return web.json_response({"product_id": request.match_info["pid"], "available": 3})

    app = web.Application()
    app.router.add_get("/v1/stock/{pid}", stock)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    clients = ServiceClients(environ={"BATON_SERVICE_URLS": json.dumps({"inventory": f"http://127.0.0.1:{port}"})})
    try:
        await clients.start(context())
        assert clients["inventory"] is clients["inventory"]
        response = await clients["inventory"].get("/v1/stock/p1")
        assert response.status == 200
        assert response.json() == {"product_id": "p1", "available": 3}
    finally:
        await clients.stop()
        await runner.cleanup()


async def test_calls_through_service_clients_show_in_the_services_metrics(serving) -> None:
    async def stock(request: web.Request) -> web.Response:
        return web.json_response({"available": 3})

    peer = web.Application()
    peer.router.add_get("/v1/stock/{pid}", stock)
    runner = web.AppRunner(peer)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    service = Service("order")
    clients = ServiceClients(environ={"BATON_SERVICE_URLS": json.dumps({"inventory": f"http://127.0.0.1:{port}"})})
    service.add_component(clients)
    try:
        async with serving(service) as http:
            assert (await clients["inventory"].get("/v1/stock/p1")).status == 200
            exposition = (await http.get("/metrics")).text
    finally:
        await runner.cleanup()
    requests = [line for line in exposition.splitlines() if line.startswith("baton_client_requests_total{")]
    assert requests, exposition
    assert 'target="inventory"' in requests[0]
    assert requests[0].endswith(" 1.0")
