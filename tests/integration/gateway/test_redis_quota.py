"""Quotas shared by several gateway replicas through Redis (``limits``' async Redis storage)."""

from __future__ import annotations

import time
import uuid

import aiohttp
import pytest

from baton.gateway import Gateway, parse_config
from baton.gateway.policies.quota import utc_day

pytestmark = [pytest.mark.integration, pytest.mark.scaleout]


async def test_two_replicas_share_one_quota(start_upstream, tmp_path, redis_url):
    port = await start_upstream("a")
    quota = f"test-{uuid.uuid4().hex}"
    mapping = {
        "access_log": False,
        "redis_url": redis_url,
        "api_keys": [{"consumer": "robot", "key": "k"}],
        "routes": [
            {
                "prefix": "/",
                "backends": [{"urls": [f"http://127.0.0.1:{port}"]}],
                "auth": {"required": True},
                "quota": {"per_day": 3, "name": quota},
            }
        ],
    }
    first, second = Gateway(parse_config(mapping), home=tmp_path), Gateway(parse_config(mapping), home=tmp_path)
    async with first.serve("127.0.0.1", 0), second.serve("127.0.0.1", 0), aiohttp.ClientSession() as http:
        statuses = []
        for gateway in (first, second, first, second):
            async with http.get(f"{gateway.url}/v1/echo", headers={"X-API-Key": "k"}) as r:
                statuses.append(r.status)
        assert statuses == [200, 200, 200, 429]
        store = first.state.quotas  # type: ignore[union-attr]
        await store.storage.clear(f"quota/{quota}/robot/{utc_day(time.time())}")
