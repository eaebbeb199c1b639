"""pytest helpers for contract tests (import them in a ``tests/contracts/conftest.py``).

::

    from baton.delivery.contracts.fixtures import contract_store, require_pacts  # noqa: F401

``contract_store`` is the store named by ``$BATON_CONTRACTS_DIR`` (the pipeline sets it) or, in a plain test run,
one scratch store for the whole session. ``require_pacts`` makes a provider test independent of test order: when
the store has no pact from the consumer yet, it runs the consumer's own contract tests first (in a subprocess,
into the same store) — the provider always verifies what the consumer's code really generated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from baton.delivery.contracts.store import CONTRACTS_ENV, ContractStore, PactRef

__all__ = ["contract_store", "require_pacts"]


@pytest.fixture(scope="session")
def contract_store(tmp_path_factory: pytest.TempPathFactory) -> ContractStore:
    """The contract store of this test run."""
    store = ContractStore.from_env(tmp_path_factory.mktemp("contracts"))
    # Subprocesses started by require_pacts (and the consumer tests they run) must write to this same store.
    os.environ.setdefault(CONTRACTS_ENV, str(store.root))
    return store


def require_pacts(
    store: ContractStore, *, consumer: str, provider: str, version: str, tests: Path, cwd: Path
) -> list[PactRef]:
    """The pacts ``consumer@version`` has with ``provider``, running ``tests`` (its consumer tests) if needed.

    Raises:
        AssertionError: the consumer tests failed or wrote no pact.
    """
    found = store.pacts(consumer=consumer, consumer_version=version, provider=provider)
    if found:
        return found
    env = {**os.environ, CONTRACTS_ENV: str(store.root)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    found = store.pacts(consumer=consumer, consumer_version=version, provider=provider)
    if run.returncode != 0 or not found:
        raise AssertionError(f"{consumer}'s consumer tests wrote no pact with {provider}:\n{run.stdout[-3000:]}")
    return found
