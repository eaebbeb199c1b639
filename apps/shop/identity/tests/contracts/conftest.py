"""Identity's provider contract tests: the contract store of this run."""

from __future__ import annotations

from baton.delivery.contracts.fixtures import contract_store  # noqa: F401  (fixture)
