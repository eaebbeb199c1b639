"""The whole shop, started once for the shop's end-to-end tests: control plane, NATS, every service, gateway."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import yaml
from apps.shop.common.system import MANIFEST, REPO_ROOT, ShopSystem

log = logging.getLogger(__name__)

E2E_ENV = {
    # The load: one authorization in five is declined.
    "payment": {"PAYMENT_FAILURE_RATE": "0.2"},
    # Short enough that the expiry test waits a second, not a minute.
    "inventory": {"INVENTORY_SWEEP_INTERVAL": "0.5"},
    # A killed instance's orders without a saga are picked up within seconds.
    "order": {"ORDER_ORPHAN_AFTER_SECONDS": "3", "ORDER_ORPHAN_SWEEP_INTERVAL": "1"},
}


def _missing_services() -> list[str]:
    """Services of the manifest whose module is not in the tree yet (left out, and said so)."""
    services = yaml.safe_load(MANIFEST.read_text())["services"]
    missing = []
    for name, spec in services.items():
        module = spec.get("module")
        if module and not (REPO_ROOT / (module.split(":")[0].replace(".", "/") + ".py")).exists():
            missing.append(name)
    return missing


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopSystem]:
    """The running shop (shared by the tests of this directory; each test uses its own customers)."""
    missing = _missing_services()
    if missing:
        log.warning("shop e2e: running without %s (not in the tree)", ", ".join(missing))
    with ShopSystem(tmp_path_factory.mktemp("shop"), env=E2E_ENV, without=missing) as system:
        yield system


@pytest.fixture
def missing() -> list[str]:
    """Services the running shop lacks (their checks are skipped)."""
    return _missing_services()
