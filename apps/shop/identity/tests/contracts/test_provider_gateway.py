"""Identity verifies the gateway's pact (sign-up and sign-in) against a real identity process; the provider states
create accounts through identity's own API, as a customer would."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from baton.delivery.contracts.fixtures import honour_pacts

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[5]
SHOP = REPO / "apps" / "shop" / "baton.yaml"


def test_identity_honours_the_gateway_pact(launch_service, nats_url, contract_store) -> None:
    identity = launch_service(
        "apps.shop.identity.service:service",
        service="identity",
        env={"BATON_NATS_URL": nats_url, "IDENTITY_DEV_MODE": "true"},
    )

    def nobody_uses_ada() -> None:
        # A fresh identity database: nobody is registered yet.
        assert httpx.post(f"{identity.url}/v1/login", json={"email": "ada@example.com", "password": "x" * 8}).is_error

    def grace_has_an_account() -> None:
        body = {"email": "grace@example.com", "password": "correct horse", "name": "Grace"}
        answer = httpx.post(f"{identity.url}/v1/users", json=body, timeout=10)
        assert answer.status_code in (201, 409), answer.text

    honour_pacts(
        contract_store,
        provider="identity",
        manifest=SHOP,
        consumers={"gateway": REPO / "tests/contracts/gateway/test_consumer_gateway.py"},
        cwd=REPO,
        url=identity.url,
        states={
            "nobody uses ada@example.com": nobody_uses_ada,
            "grace@example.com has an account": grace_has_an_account,
        },
    )
