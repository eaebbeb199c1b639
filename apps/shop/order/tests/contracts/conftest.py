"""Order's consumer contract tests: pacts with inventory and payment (HTTP) and catalog (events)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from apps.shop.order.peers import HttpPeers
from pact import Pact

from baton.delivery.contracts import ContractStore, service_version
from baton.delivery.contracts.fixtures import contract_store, pact_client  # noqa: F401  (fixture)

SHOP = Path(__file__).resolve().parents[3] / "baton.yaml"


@pytest.fixture(scope="session")
def order_version() -> str:
    """The version pacts are published under: order's in the shop manifest."""
    return service_version(SHOP, "order")


@pytest.fixture
def peers(
    contract_store: ContractStore,  # noqa: F811  (the fixture imported above)
    order_version: str,
) -> Callable[[Pact, str], AbstractAsyncContextManager[HttpPeers]]:
    """``async with peers(pact, "inventory") as inventory``: order's real HTTP peers against the pact's mock
    server; the pact is published once the calls went through."""

    @asynccontextmanager
    async def played(pact: Pact, service: str) -> AsyncIterator[HttpPeers]:
        async with pact_client(pact, contract_store, consumer_version=order_version, service=service) as client:
            yield HttpPeers({service: client})  # type: ignore[arg-type]

    return played
