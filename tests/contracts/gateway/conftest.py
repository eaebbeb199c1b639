"""The gateway's consumer contracts: the public routes of ``apps/shop/baton.yaml`` as clients use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.delivery.contracts import service_version
from baton.delivery.contracts.fixtures import contract_store  # noqa: F401  (fixture)

SHOP = Path(__file__).resolve().parents[3] / "apps" / "shop" / "baton.yaml"


@pytest.fixture(scope="session")
def gateway_version() -> str:
    """The version the gateway's pacts are published under: the gateway's in the shop manifest."""
    return service_version(SHOP, "gateway")
