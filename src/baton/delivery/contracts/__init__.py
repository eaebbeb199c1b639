"""Consumer-driven contracts: pacts written by consumer tests, verified by providers, and ``can-i-deploy``.

* :mod:`~baton.delivery.contracts.store` — the local contract store (pacts, verification matrix, deployments);
* :mod:`~baton.delivery.contracts.pacts` — pact-python helpers for consumer and provider tests;
* :mod:`~baton.delivery.contracts.matrix` — :func:`can_i_deploy`, the gate before promotion.
"""

from baton.delivery.contracts.matrix import Decision, can_i_deploy
from baton.delivery.contracts.pacts import consumer_pact, message, publish, service_version, verify_provider
from baton.delivery.contracts.store import CONTRACTS_ENV, ContractStore, PactRef, Verification

__all__ = [
    "CONTRACTS_ENV",
    "ContractStore",
    "Decision",
    "PactRef",
    "Verification",
    "can_i_deploy",
    "consumer_pact",
    "message",
    "publish",
    "service_version",
    "verify_provider",
]
