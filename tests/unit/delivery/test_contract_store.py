"""The contract store and can-i-deploy, table-driven over hand-written pact files (no Pact FFI needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.delivery.contracts import ContractStore, can_i_deploy
from baton.errors import DeliveryError


def pact_file(tmp: Path, consumer: str, provider: str, field: str = "available") -> Path:
    path = tmp / f"{consumer}-{provider}-{field}.json"
    document = {
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": [{"description": "a stock query", "response": {"body": {field: 10}}}],
        "metadata": {"pactSpecification": {"version": "4.0"}},
    }
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def store(tmp_path: Path) -> ContractStore:
    contracts = ContractStore(tmp_path / "store")
    pact = contracts.publish(pact_file(tmp_path, "order", "inventory"), consumer_version="1.0")
    contracts.record_verification(pact, provider_version="2.0", success=True)
    contracts.record_verification(pact, provider_version="2.1", success=False, failures=["$.available missing"])
    newer = contracts.publish(pact_file(tmp_path, "order", "inventory", field="on_hand"), consumer_version="1.1")
    assert newer.sha != pact.sha
    contracts.record_deployment("production", "order", "1.0")
    contracts.record_deployment("production", "inventory", "2.0")
    return contracts


@pytest.mark.parametrize(
    ("service", "version", "env", "ok", "says"),
    [
        ("inventory", "2.0", "production", True, "✓ order 1.0 → inventory by inventory 2.0: verified"),
        ("inventory", "2.1", "production", False, "verification failed — $.available missing"),
        ("inventory", "2.2", "production", False, "never verified"),
        ("order", "1.0", "production", True, "verified"),
        ("order", "1.1", "production", False, "✗ order 1.1 → inventory by inventory 2.0: never verified"),
        ("order", "1.1", "staging", True, "inventory is not deployed to staging"),
        ("catalog", "3.0", "production", True, "no contract involves catalog"),
    ],
)
def test_can_i_deploy(store, service, version, env, ok, says) -> None:
    decision = can_i_deploy(store, service, version, env)
    assert decision.ok is ok
    assert any(says in reason for reason in decision.reasons), decision.reasons
    assert decision.as_dict()["ok"] is ok


def test_same_pact_content_from_a_new_consumer_version_is_already_verified(store, tmp_path) -> None:
    store.publish(pact_file(tmp_path, "order", "inventory"), consumer_version="1.2")
    assert can_i_deploy(store, "order", "1.2", "production").ok


def test_a_later_verification_replaces_the_earlier_one(store) -> None:
    pact = store.pacts(consumer="order", consumer_version="1.0")[0]
    store.record_verification(pact, provider_version="2.1", success=True)
    assert can_i_deploy(store, "inventory", "2.1", "production").ok
    assert len([v for v in store.verifications() if v.provider_version == "2.1"]) == 1


def test_deployments_and_bad_files(store, tmp_path) -> None:
    assert store.deployed("production") == {"order": "1.0", "inventory": "2.0"}
    assert store.deployed("staging") == {}
    broken = tmp_path / "not-a-pact.json"
    broken.write_text("{}")
    with pytest.raises(DeliveryError, match="not a pact"):
        store.publish(broken, consumer_version="1")


def test_the_gateways_pacts_weigh_on_its_providers_once_it_is_deployed(tmp_path: Path) -> None:
    contracts = ContractStore(tmp_path / "store")
    pact = contracts.publish(pact_file(tmp_path, "gateway", "catalog", field="items"), consumer_version="1.0.0")
    contracts.record_verification(pact, provider_version="1.0.0", success=True)
    # Not deployed (nothing recorded it): its pact does not hold catalog back.
    assert can_i_deploy(contracts, "catalog", "1.1.0", "production").ok
    # The pipeline's can-i-deploy stage records what production runs — the gateway included.
    contracts.record_deployment("production", "gateway", "1.0.0")
    decision = can_i_deploy(contracts, "catalog", "1.1.0", "production")
    assert not decision.ok
    assert any("gateway 1.0.0 → catalog" in reason for reason in decision.reasons)
    assert can_i_deploy(contracts, "catalog", "1.0.0", "production").ok
