"""Fixtures for the content hub's integration tests: the hub as a real process, services in-process over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from baton.events.server import free_port
from baton.kit import InstanceSettings, Service
from baton.testing import wait_until, wait_until_sync

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

READ_TOKEN = "ro-" + "r" * 24
FULL_TOKEN = "fa-" + "f" * 24
FULL = {"Authorization": f"Bearer {FULL_TOKEN}"}


@pytest.fixture
def start_hub(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start_hub(**env)`` runs ``python -m baton.kit.serve`` for the content hub; returns its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(**extra_env: str) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "CONTENT_", "OTEL_"))}
        env.update(BATON_SERVICE="content", BATON_INSTANCE=f"content-{port}", BATON_PORT=str(port))
        env.update(
            BATON_HOME=str(tmp_path / "hub"), CONTENT_API_TOKENS=f"read-only:{READ_TOKEN},full-access:{FULL_TOKEN}"
        )
        env.update(extra_env)
        log_path = tmp_path / f"content-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "baton.kit.serve", "apps.shop.content.service:service"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        base_url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, f"content hub exited early:\n{log_path.read_text()}"
            try:
                return httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until_sync(ready, timeout=30, message="content hub ready")
        return base_url

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@contextlib.asynccontextmanager
async def serving(service: Service, settings: InstanceSettings) -> AsyncIterator[str]:
    """Serve ``service`` over real HTTP (uvicorn in this process) on a free port; yields its base URL."""
    port = free_port()
    service.configure(settings.model_copy(update={"port": port}))
    server = uvicorn.Server(
        uvicorn.Config(service.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started, timeout=15, message=f"{service.name} serving")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def tokens() -> tuple[str, str]:
    """The hub's (read-only, full-access) API tokens."""
    return READ_TOKEN, FULL_TOKEN
