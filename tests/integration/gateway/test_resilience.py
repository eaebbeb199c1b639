"""Timeouts, retries, isolation between routes, weighted splits and hot reload under load."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import aiohttp
import pytest
from tests.integration.gateway.conftest import running_gateway

from baton.testing import wait_until

pytestmark = pytest.mark.integration


def url_of(port):
    return f"http://127.0.0.1:{port}"


async def test_slow_upstream_does_not_stall_other_routes(start_upstream, tmp_path):
    slow, fast = await start_upstream("slow"), await start_upstream("fast")
    mapping = {
        "routes": [
            {"prefix": "/slow", "strip_prefix": True, "backends": [{"urls": [url_of(slow)]}], "timeout": 10},
            {"prefix": "/fast", "strip_prefix": True, "backends": [{"urls": [url_of(fast)]}]},
        ]
    }
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:

        async def get(path):
            async with http.get(gw.url + path) as r:
                return r.status, time.monotonic()

        started = time.monotonic()
        slow_calls = [asyncio.create_task(get("/slow/v1/slow?s=1.5")) for _ in range(20)]
        fast_results = await asyncio.gather(*(get("/fast/v1/echo") for _ in range(50)))
        assert all(status == 200 for status, _ in fast_results)
        assert max(at for _, at in fast_results) - started < 1.0  # answered while 20 slow calls were pending
        assert not any(t.done() for t in slow_calls)
        assert [s for s, _ in await asyncio.gather(*slow_calls)] == [200] * 20


async def test_route_timeout_answers_504(start_upstream, tmp_path):
    port = await start_upstream("slow")
    mapping = {"routes": [{"prefix": "/", "backends": [{"urls": [url_of(port)]}], "timeout": "300ms"}]}
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with http.get(f"{gw.url}/v1/slow?s=1.2") as r:
            assert r.status == 504
            assert r.content_type == "application/problem+json"
        assert 0.25 < time.monotonic() - started < 1.5


async def test_idempotent_requests_are_retried_on_503(start_upstream, tmp_path):
    port = await start_upstream("flaky")
    mapping = {"routes": [{"prefix": "/", "backends": [{"urls": [url_of(port)]}], "retry": {"attempts": 2}}]}
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:
        response = await http.get(f"{gw.url}/v1/flaky")
        assert response.status == 200
        assert (await response.json())["try"] == 2
    no_retry = {"routes": [{"prefix": "/", "backends": [{"urls": [url_of(port)]}], "retry": False}]}
    async with running_gateway(no_retry, tmp_path) as gw, aiohttp.ClientSession() as http:
        response = await http.get(f"{gw.url}/v1/flaky")
        assert response.status == 503


async def test_weighted_split_over_the_wire(start_upstream, tmp_path):
    stable, canary = await start_upstream("stable"), await start_upstream("canary")
    mapping = {
        "routes": [
            {
                "prefix": "/",
                "backends": [{"urls": [url_of(stable)], "weight": 90}, {"urls": [url_of(canary)], "weight": 10}],
            },
            {
                "prefix": "/",
                "name": "header-canary",
                "match": {"headers": {"X-Baton-Version": "v2"}},
                "backends": [{"urls": [url_of(canary)]}],
            },
        ]
    }
    async with running_gateway(mapping, tmp_path) as gw, aiohttp.ClientSession() as http:
        seen = Counter()
        for _ in range(200):
            async with http.get(f"{gw.url}/v1/echo") as r:
                seen[(await r.json())["instance"]] += 1
        assert seen == {"stable": 180, "canary": 20}
        async with http.get(f"{gw.url}/v1/echo", headers={"X-Baton-Version": "v2"}) as r:
            assert (await r.json())["instance"] == "canary"


async def test_hot_reload_under_load_drops_nothing(start_upstream, tmp_path):
    blue, green = await start_upstream("blue"), await start_upstream("green")
    path = tmp_path / "gateway.yaml"

    def write(port):
        mapping = {
            "access_log": False,
            "quota_db": str(tmp_path / "q.db"),
            "reload_interval": 0.1,
            "routes": [{"prefix": "/", "backends": [{"urls": [url_of(port)]}]}],
        }
        path.write_text(json.dumps(mapping))

    write(blue)
    from baton.gateway import Gateway

    gateway = Gateway.from_file(path, home=tmp_path)
    async with gateway.serve("127.0.0.1", 0) as gw, aiohttp.ClientSession() as http:
        statuses: Counter[int] = Counter()
        instances: Counter[str] = Counter()
        stop = asyncio.Event()

        async def client():
            while not stop.is_set():
                async with http.get(f"{gw.url}/v1/echo") as r:
                    statuses[r.status] += 1
                    instances[(await r.json())["instance"]] += 1

        workers = [asyncio.create_task(client()) for _ in range(8)]
        await wait_until(lambda: instances["blue"] > 50)
        write(green)
        await wait_until(lambda: instances["green"] > 50, timeout=10)
        stop.set()
        await asyncio.gather(*workers)
        assert gw.reloads == 1
        assert set(statuses) == {200}, statuses
        # A broken file is refused and the last good table keeps serving.
        path.write_text("routes: [ {prefix: no-slash} ]")
        await wait_until(lambda: gw.last_reload_error is not None, timeout=5)
        async with http.get(f"{gw.url}/v1/echo") as r:
            assert (await r.json())["instance"] == "green"
        async with http.get(f"{gw.url}/readyz") as r:
            assert "last reload failed" in (await r.json())["checks"]["config"]


async def test_discovery_and_version_split_through_the_registry(start_upstream, tmp_path):
    from baton.discovery import Instance, StaticRegistry

    v1, v2, v2b = await start_upstream("v1-a"), await start_upstream("v2-a"), await start_upstream("v2-b")
    registry = StaticRegistry([Instance("catalog", "catalog-1", "127.0.0.1", v1, version="v1")])
    mapping = {"routes": [{"prefix": "/", "service": "catalog", "split": {"v1": 50, "v2": 50}}]}
    async with running_gateway(mapping, tmp_path, registry=registry) as gw, aiohttp.ClientSession() as http:

        async def instances(n):
            seen = Counter()
            for _ in range(n):
                async with http.get(f"{gw.url}/v1/echo") as r:
                    seen[(await r.json())["instance"] if r.status == 200 else r.status] += 1
            return seen

        assert await instances(4) == {"v1-a": 2, 503: 2}  # no v2 instance yet: its half gets 503
        await registry.register(Instance("catalog", "catalog-2", "127.0.0.1", v2, version="v2"))
        await registry.register(Instance("catalog", "catalog-3", "127.0.0.1", v2b, version="v2"))

        async def v2_balanced():
            return (await instances(8)) == {"v1-a": 4, "v2-a": 2, "v2-b": 2}

        await wait_until(v2_balanced, timeout=5)
        await registry.deregister(Instance("catalog", "catalog-1", "127.0.0.1", v1, version="v1"))
        await wait_until(lambda: _only_v2(instances), timeout=5)


async def _only_v2(instances):
    seen = await instances(4)
    return "v1-a" not in seen and seen.get(503) == 2
