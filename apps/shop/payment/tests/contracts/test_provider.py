"""Payment verifies order's pact against a real payment process (the provider simulator)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from baton.delivery.contracts.fixtures import honour_pacts

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[5]
SHOP = REPO / "apps" / "shop" / "baton.yaml"


def states(url: str) -> dict[str, object]:
    """Provider states by name; payments are created the way order creates them."""

    def authorized(payment_id: str) -> None:
        body = {
            "payment_id": payment_id,
            "order_id": "o-1",
            "amount_cents": 2590,
            "currency": "EUR",
            "card_token": "tok_visa",
        }
        httpx.post(f"{url}/v1/payments/authorize", json=body, timeout=5).raise_for_status()

    return {
        "no payment pay-1 yet": lambda: None,  # a fresh database
        "no payment pay-2 yet": lambda: None,
        "payment pay-3 is authorized": lambda: authorized("pay-3"),
    }


def test_payment_honours_the_order_pact(launch_service, nats_url, contract_store) -> None:
    payment = launch_service("apps.shop.payment.service:service", service="payment", env={"BATON_NATS_URL": nats_url})
    honour_pacts(
        contract_store,
        provider="payment",
        manifest=SHOP,
        consumers={"order": REPO / "apps/shop/order/tests/contracts/test_consumer_payment.py"},
        cwd=REPO,
        url=payment.url,
        states=states(payment.url),
    )
