"""pytest helpers for contract tests (import them in a ``tests/contracts/conftest.py``).

::

    from baton.delivery.contracts.fixtures import contract_store, require_pacts  # noqa: F401

``contract_store`` is the store named by ``$BATON_CONTRACTS_DIR`` (the pipeline sets it) or, in a plain test run,
one scratch store for the whole session. ``require_pacts`` makes a provider test independent of test order: when
the store has no pact from the consumer yet, it runs the consumer's own contract tests first (in a subprocess,
into the same store) — the provider always verifies what the consumer's code really generated.

The plumbing every contract test repeats, so that a test states only what its consumer relies on (the
interactions) or how its provider reaches each state:

* :func:`expect_event` — a message interaction: a CloudEvent envelope around the ``data`` a consumer reads;
* :func:`read_events` — verifies a message pact by handing each message, decoded as a :class:`CloudEvent`, to the
  consumer's real decoding;
* :func:`pact_client` — a :class:`~baton.client.ServiceClient` against the pact's mock server, the pact published
  once the consumer's calls went through;
* :func:`honour_pacts` — a provider test's whole verification: the consumers' pacts (generated if missing),
  replayed, every verdict required to pass.

::

    async def test_order_reserves_stock(contract_store, order_version) -> None:
        pact = consumer_pact("order", "inventory")
        pact.upon_receiving("a reservation").given("product p-1 has 10 units in stock").with_request(...)...
        async with pact_client(pact, contract_store, consumer_version=order_version, service="inventory") as client:
            await HttpPeers({"inventory": client}).reserve(...)

    def test_inventory_honours_the_order_pact(launch_service, contract_store) -> None:
        inventory = launch_service("apps.shop.inventory.service:service", service="inventory")
        honour_pacts(contract_store, provider="inventory", manifest=SHOP, consumers={"order": ORDER_TESTS},
                     cwd=REPO, url=inventory.url, states=states(inventory.url))
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from baton.delivery.contracts.pacts import Producer, StateSetup, publish, service_version, verify_provider
from baton.delivery.contracts.store import CONTRACTS_ENV, ContractStore, PactRef, Verification
from baton.events import CloudEvent

if TYPE_CHECKING:
    from pact import Pact

    from baton.client import ServiceClient

__all__ = ["contract_store", "expect_event", "honour_pacts", "pact_client", "read_events", "require_pacts"]

EXAMPLE_EVENT_ID = "9d3b7b9e-0f7e-4c1e-8c1a-2b6a3f0e5d44"
"""The example id of :func:`expect_event` (an id is matched by type: any string will do)."""


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


def expect_event(
    pact: Pact,
    description: str,
    *,
    given: str,
    source: str,
    kind: str,
    data: dict[str, Any],
    subject: Any = None,
) -> None:
    """Declare a message interaction on ``pact``: in state ``given``, a CloudEvent from ``source`` of type
    ``kind`` carrying ``data`` (what the consumer relies on, matchers and all).

    The envelope is matched as a consumer of Baton events relies on it: ``specversion``, ``source`` and ``type``
    exactly, the ``id`` by type (any string); ``subject`` only when given (pass a matcher, ``match.str("o-1")``).
    """
    from pact import match

    body: dict[str, Any] = {"specversion": "1.0", "id": match.str(EXAMPLE_EVENT_ID), "source": source, "type": kind}
    if subject is not None:
        body["subject"] = subject
    body["data"] = data
    pact.upon_receiving(description, "Async").given(given).with_body(body, content_type="application/json")


def read_events(pact: Pact, handle: Callable[[CloudEvent], None]) -> None:
    """Verify ``pact``'s message interactions: each message, decoded as a CloudEvent, goes to ``handle``.

    ``handle`` is the consumer's real decoding (what its inbox handler does with the event), plus whatever the
    test wants to keep for its assertions.

    Raises:
        AssertionError: a message had no body, or ``handle`` failed on one (Pact reports which).
    """

    def receive(body: str | bytes | None, metadata: dict[str, object]) -> None:
        assert body is not None, "a message interaction without a body"
        handle(CloudEvent.from_dict(json.loads(body)))

    pact.verify(receive, "Async")


@asynccontextmanager
async def pact_client(
    pact: Pact, store: ContractStore, *, consumer_version: str, service: str
) -> AsyncIterator[ServiceClient]:
    """``async with`` a :class:`~baton.client.ServiceClient` for ``service`` against ``pact``'s mock server.

    Give it to the consumer's real client code. When the block ends without an error (every interaction was
    played as declared) the pact is published under ``consumer_version``.
    """
    from baton.client import ServiceClient

    with pact.serve() as mock:
        client = ServiceClient(service, base_url=str(mock.url))
        try:
            yield client
        finally:
            await client.aclose()
    publish(pact, store, consumer_version=consumer_version)


def honour_pacts(
    store: ContractStore,
    *,
    provider: str,
    manifest: Path,
    consumers: Mapping[str, Path],
    cwd: Path,
    url: str | None = None,
    states: Mapping[str, StateSetup] | None = None,
    messages: Mapping[str, Producer] | None = None,
) -> list[Verification]:
    """Verify ``provider`` against the pacts of ``consumers`` and require every verdict to pass.

    Each consumer's pacts at its version in ``manifest`` are generated first when the store has none
    (:func:`require_pacts` runs the consumer tests named by ``consumers``, from ``cwd``); then
    :func:`~baton.delivery.contracts.verify_provider` replays them against ``url`` and/or ``messages`` with
    ``states``, recorded under the provider's version in ``manifest``. Blocking: from an async test, run it with
    ``asyncio.to_thread``.

    Raises:
        AssertionError: a consumer's tests wrote no pact, a consumer has no verdict, or a verdict failed.
    """
    for consumer, tests in consumers.items():
        require_pacts(
            store,
            consumer=consumer,
            provider=provider,
            version=service_version(manifest, consumer),
            tests=tests,
            cwd=cwd,
        )
    verdicts = verify_provider(
        store,
        provider,
        service_version(manifest, provider),
        url=url,
        states=states,
        messages=messages,
        consumers=list(consumers),
    )
    assert {v.consumer for v in verdicts} == set(consumers), [v.consumer for v in verdicts]
    assert all(v.success for v in verdicts), [v.failures for v in verdicts]
    return verdicts
