"""Catalog verifies the gateway's pact (the public product routes, v1 and v2) against a real catalog process."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.delivery.contracts.fixtures import honour_pacts

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[5]
SHOP = REPO / "apps" / "shop" / "baton.yaml"


def test_catalog_honours_the_gateway_pact(launch_service, nats_url, contract_store) -> None:
    catalog = launch_service("apps.shop.catalog.service:service", service="catalog", env={"BATON_NATS_URL": nats_url})
    honour_pacts(
        contract_store,
        provider="catalog",
        manifest=SHOP,
        consumers={"gateway": REPO / "tests/contracts/gateway/test_consumer_gateway.py"},
        cwd=REPO,
        url=catalog.url,
        # The catalog seeds its demo products at start: a fresh instance is in this state already.
        states={"the demo catalog is seeded": lambda: None},
    )
