"""Fixtures for the content hub's tests: the hub in-process, with or without the demo content."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

# The helpers module sits beside this file; pytest's importlib mode does not put test directories on sys.path.
sys.path.insert(0, str(Path(__file__).parent))

from content_helpers import running_hub


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The hub without seed content."""
    async with running_hub(tmp_path) as client:
        yield client


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The hub with the demo content."""
    async with running_hub(tmp_path, {"CONTENT_SEED": "true"}) as client:
        yield client
