"""What the order instance runs besides its routes, in start order (stopped in reverse).

1. ``clients`` — resilient clients to inventory, payment and catalog (``ServiceClients``);
2. ``saga`` — the orchestrator hosting :mod:`.checkout`, resuming unfinished checkouts at start;
3. ``price_backfill`` — fills the price read model from the catalog once (:mod:`.backfill`);
4. ``orphan_orders`` — starts the saga of orders placed without one by an older version (:mod:`.recovery`).

Tests replace ``checkout.stock`` / ``checkout.payments`` and ``catalog`` with fakes before starting.
"""

from __future__ import annotations

from apps.shop.order.backfill import PriceBackfill
from apps.shop.order.checkout import Checkout
from apps.shop.order.peers import Catalog, HttpPeers
from apps.shop.order.recovery import OrphanSweeper
from apps.shop.order.service import service
from apps.shop.order.settings import OrderSettings
from baton.kit.clients import ServiceClients
from baton.saga import SagaComponent


def _settings() -> OrderSettings:
    settings: OrderSettings = service.settings
    return settings


clients = ServiceClients()
http_peers = HttpPeers(clients)
checkout = Checkout(stock=http_peers, payments=http_peers)
catalog: Catalog = http_peers
"""Where the backfill reads products (a module attribute so tests can point it at a fake)."""


def _catalog() -> Catalog:
    return catalog


sagas = SagaComponent([checkout.saga])
backfill = PriceBackfill(
    _catalog,
    page_size=lambda: _settings().backfill_page_size,
    max_backoff=lambda: _settings().backfill_max_backoff,
)
orphans = OrphanSweeper(
    sagas,
    older_than=lambda: _settings().orphan_after_seconds,
    interval=lambda: _settings().orphan_sweep_interval,
)

for component in (clients, sagas, backfill, orphans):
    service.add_component(component)
