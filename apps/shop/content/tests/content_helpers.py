"""Helpers of the content hub's tests: the hub in-process on a fresh SQLite file, with API tokens."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
from apps.shop.content.service import hub, service

from baton.kit import InstanceSettings

READ_TOKEN = "ro-" + "r" * 20
FULL_TOKEN = "fa-" + "f" * 20
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
FULL = {"Authorization": f"Bearer {FULL_TOKEN}"}
BASE_ENV = {
    "CONTENT_API_TOKENS": f"read-only:{READ_TOKEN},full-access:{FULL_TOKEN}",
    "CONTENT_SEED": "false",
    "CONTENT_WEBHOOK_POLL_INTERVAL": "0.05",
}


@contextlib.asynccontextmanager
async def running_hub(
    home: Path, env: Mapping[str, str] | None = None, **instance: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The hub running in-process with ``CONTENT_*`` from ``BASE_ENV`` + ``env``; yields an HTTP client on it."""
    values = {**BASE_ENV, **(env or {})}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    service.reload_settings()
    try:
        async with service.running(InstanceSettings(home=home, **instance)):
            transport = httpx.ASGITransport(app=service.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
                yield http
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        service.reload_settings()


async def create(http: httpx.AsyncClient, api_id: str, data: dict, **params: str) -> dict:
    """POST an entry with the full-access token; its ``data``."""
    response = await http.post(f"/api/{api_id}", json={"data": data}, params=params, headers=FULL)
    assert response.status_code == 201, response.text
    return response.json()["data"]


__all__ = ["BASE_ENV", "FULL", "FULL_TOKEN", "READ", "READ_TOKEN", "create", "hub", "running_hub", "service"]
