"""Fixtures for the telemetry integration tests: real HTTP servers on free ports, and promtool."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from baton.events.server import free_port
from baton.testing import wait_until

_PROMTOOL_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "baton" / "promtool"


@pytest.fixture
def serve_asgi() -> Callable[[Any], AbstractAsyncContextManager[str]]:
    """``async with serve_asgi(app) as base_url``: uvicorn serving ``app`` on a free port in this event loop."""

    @asynccontextmanager
    async def serve(app: Any) -> AsyncIterator[str]:
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        try:
            await wait_until(lambda: server.started or task.done(), timeout=15, message="uvicorn did not start")
            if task.done():
                task.result()
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=15)

    return serve


def _extract_promtool() -> tuple[Path | None, str]:
    """Debian's ``prometheus`` package, unpacked (not installed: its postinst would start a Prometheus server)."""
    binary = _PROMTOOL_CACHE / "usr" / "bin" / "promtool"
    if binary.exists():
        return binary, ""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return None, "promtool is not installed and this is not a Debian system (apt-get/dpkg-deb missing)"
    policy = subprocess.run(["apt-cache", "policy", "prometheus"], capture_output=True, text=True, check=False)
    if "Candidate:" not in policy.stdout or "Candidate: (none)" in policy.stdout:
        return None, "promtool is not installed and apt knows no 'prometheus' package (run apt-get update?)"
    download = _PROMTOOL_CACHE.parent / "deb"
    download.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(
        ["apt-get", "download", "prometheus"], cwd=download, capture_output=True, text=True, timeout=300, check=False
    )
    debs = sorted(download.glob("prometheus_*.deb"))
    if fetched.returncode != 0 or not debs:
        return None, f"could not download Debian's prometheus package: {fetched.stderr.strip()[-300:]}"
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(_PROMTOOL_CACHE)], check=True, timeout=120)
    return (binary, "") if binary.exists() else (None, "the prometheus package holds no usr/bin/promtool")


@pytest.fixture(scope="session")
def promtool() -> Path:
    """Path of a working ``promtool``: from PATH, else from Debian's package; skipped (with the reason) otherwise."""
    found = shutil.which("promtool")
    if found:
        return Path(found)
    binary, reason = _extract_promtool()
    if binary is None:
        pytest.skip(reason)
    return binary
