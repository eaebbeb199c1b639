"""Analytics's consumer contract tests: message pacts with order (``order.confirmed``, ``order.cancelled``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.delivery.contracts import service_version
from baton.delivery.contracts.fixtures import contract_store  # noqa: F401  (fixture)

SHOP = Path(__file__).resolve().parents[3] / "baton.yaml"


@pytest.fixture(scope="session")
def analytics_version() -> str:
    """The version pacts are published under: analytics's in the shop manifest."""
    return service_version(SHOP, "analytics")
