"""``can-i-deploy``: may this version of a service go to that environment without breaking a contract?

Pact's matrix question, answered from the :class:`~baton.delivery.contracts.store.ContractStore`:

* **as a consumer** — every pact ``service@version`` published must be verified (successfully) by the provider
  version deployed in the environment;
* **as a provider** — every pact published by a consumer version deployed in the environment must be verified by
  ``service@version``.

A missing verification is a "no" (unknown is not safe); a counterpart not deployed in the environment is a "yes"
(nothing there to break).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from baton.delivery.contracts.store import ContractStore, PactRef

__all__ = ["Decision", "can_i_deploy"]


@dataclass(frozen=True)
class Decision:
    """The answer, with one line per pact looked at."""

    service: str
    version: str
    env: str
    ok: bool
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "service": self.service,
            "version": self.version,
            "env": self.env,
            "ok": self.ok,
            "reasons": self.reasons,
        }


def _judge(store: ContractStore, pact: PactRef, provider_version: str, reasons: list[str]) -> bool:
    verdict = store.verification(pact, provider_version)
    who = f"{pact.label} by {pact.provider} {provider_version}"
    if verdict is None:
        reasons.append(f"✗ {who}: never verified")
        return False
    if not verdict.success:
        first = verdict.failures[0] if verdict.failures else "verification failed"
        reasons.append(f"✗ {who}: verification failed — {first}")
        return False
    reasons.append(f"✓ {who}: verified")
    return True


def can_i_deploy(store: ContractStore, service: str, version: str, env: str) -> Decision:
    """Whether ``service@version`` can go to ``env`` (see the module docstring)."""
    deployed = store.deployed(env)
    reasons: list[str] = []
    ok = True
    for pact in store.pacts(consumer=service, consumer_version=version):
        provider_version = deployed.get(pact.provider)
        if provider_version is None:
            reasons.append(f"✓ {pact.label}: {pact.provider} is not deployed to {env}")
            continue
        ok = _judge(store, pact, provider_version, reasons) and ok
    for consumer, consumer_version in sorted(deployed.items()):
        if consumer == service:
            continue
        for pact in store.pacts(consumer=consumer, consumer_version=consumer_version, provider=service):
            ok = _judge(store, pact, version, reasons) and ok
    if not reasons:
        reasons.append(f"✓ no contract involves {service} {version} in {env}")
    return Decision(service, version, env, ok, reasons)
