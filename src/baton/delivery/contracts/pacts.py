"""Writing and verifying pacts with pact-python (``from pact import Pact, Verifier``), into the contract store.

Consumer side — the consumer's real client code talks to Pact's mock server; the interactions become a pact::

    pact = consumer_pact("order", "inventory")
    pact.upon_receiving("a reservation").given("product p-1 has 10 units").with_request("POST", "/v1/reservations")…
    with pact.serve() as mock:
        await HttpPeers({"inventory": ServiceClient("inventory", base_url=str(mock.url))}).reserve(...)
    publish(pact, store, consumer_version="1.0.0")

Message pacts (``upon_receiving(..., "Async")``) are checked with ``pact.verify(handler, "Async")`` against the
consumer's real event decoding. Provider side, :func:`verify_provider` replays every stored pact naming the
provider against a running instance (HTTP) and/or message producers, sets provider states through callables,
and records each pact's verdict in the store.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from baton.delivery.contracts.store import ContractStore, PactRef, Verification

if TYPE_CHECKING:
    from pact import Pact

__all__ = ["consumer_pact", "message", "publish", "service_version", "verify_provider"]

log = logging.getLogger("baton.delivery.contracts")

# Pact's FFI reports usage statistics over the network unless told not to; Baton's contract runs are offline.
os.environ.setdefault("PACT_DO_NOT_TRACK", "true")

StateSetup = Callable[[], None]
"""Puts the provider in a named state (``given(...)``) before an interaction is replayed."""
Producer = Callable[[], dict[str, Any]]
"""Produces one message the way the provider really would (see :func:`message`)."""


def consumer_pact(consumer: str, provider: str) -> Pact:
    """A V4 pact between ``consumer`` and ``provider`` (HTTP and message interactions)."""
    from pact import Pact

    return Pact(consumer, provider).with_specification("V4")


def publish(pact: Pact, store: ContractStore, *, consumer_version: str) -> PactRef:
    """Write ``pact`` and store it under ``consumer_version`` (merging with interactions already written there)."""
    with tempfile.TemporaryDirectory(prefix="pact-") as scratch:
        target = store.root / "pacts" / pact.consumer / consumer_version / f"{pact.provider}.json"
        written = Path(scratch) / f"{pact.consumer}-{pact.provider}.json"
        if target.exists():
            # Several test modules of one consumer may add interactions to the same pact: pact-python merges
            # into an existing file when not told to overwrite.
            written.write_bytes(target.read_bytes())
        pact.write_file(scratch, overwrite=False)
        return store.publish(written, consumer_version=consumer_version)


def message(body: Any, *, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A message as a pact-python producer returns it: JSON contents plus metadata."""
    return {
        "contents": json.dumps(body).encode(),
        "metadata": {"contentType": "application/json", **(metadata or {})},
        "content_type": "application/json",
    }


def service_version(manifest: Path, service: str) -> str:
    """The version ``baton.yaml`` gives ``service`` (what a pact or a verification is recorded under)."""
    from baton.control.manifest import load_manifest

    return load_manifest(manifest).services[service].version


def verify_provider(
    store: ContractStore,
    provider: str,
    provider_version: str,
    *,
    url: str | None = None,
    states: Mapping[str, StateSetup] | None = None,
    messages: Mapping[str, Producer] | None = None,
    consumers: Sequence[str] | None = None,
) -> list[Verification]:
    """Verify every stored pact naming ``provider`` (optionally only ``consumers``'), record each verdict.

    Args:
        url: where the provider's HTTP API answers (needed when a pact has HTTP interactions).
        states: setup callables by provider-state name (``given(...)`` in the consumer test).
        messages: message producers by interaction description.
    """
    from pact import Verifier

    known_states = dict(states or {})

    def set_state(state: str, action: str, parameters: dict[str, Any] | None = None) -> None:
        if action != "setup" or not state:
            return
        setup = known_states.get(state)
        if setup is None:
            raise KeyError(f"provider state {state!r} is unknown to {provider}'s verification")
        setup()

    def build(path: str) -> Any:
        host = urlsplit(url).hostname if url is not None else None
        verifier = Verifier(provider, host=host).add_source(path).set_coloured_output(enabled=False)
        if url is not None:
            verifier.add_transport(url=url)
        if known_states:
            verifier.state_handler(set_state, teardown=False)
        if messages:
            verifier.message_handler(dict(messages))  # type: ignore[arg-type]  # producers return Message dicts
        return verifier

    results = []
    for pact in store.pacts(provider=provider):
        if consumers is not None and pact.consumer not in consumers:
            continue
        failures: list[str] = []
        verifier = build(str(pact.path))
        try:
            try:
                _verify_within(verifier, VERIFY_DEADLINE_S)
            except VerificationHung:
                # Seen once on a loaded 2-core machine: the FFI's runtime waited forever with no request in flight.
                # A fresh verifier (its own handle and relay servers) replays the pact again, once.
                log.warning("pact %s: verification hung for %.0f s; replaying it once", pact.label, VERIFY_DEADLINE_S)
                verifier = build(str(pact.path))
                _verify_within(verifier, VERIFY_DEADLINE_S)
            success = True
        except VerificationHung as exc:
            success = False
            failures = [str(exc)]
        except Exception as exc:  # the FFI reports a failed verification as a RuntimeError; details in results
            success = False
            failures = _failures(verifier) or [str(exc)]
        log.info("pact %s verified by %s %s: %s", pact.label, provider, provider_version, "ok" if success else failures)
        results.append(
            store.record_verification(pact, provider_version=provider_version, success=success, failures=failures)
        )
    return results


VERIFY_DEADLINE_S = 90.0
"""How long one pact's replay may take before it counts as hung (a replay takes a few seconds)."""


class VerificationHung(RuntimeError):
    """The pact FFI did not return within the deadline."""


def _verify_within(verifier: Any, deadline_s: float) -> None:
    """``verifier.verify()`` in a worker thread, waited for with a deadline.

    The FFI call blocks in native code, where neither a signal (pytest-timeout) nor ``KeyboardInterrupt`` reaches
    it; waiting for it from Python keeps the caller interruptible and turns a hang into an error that names it.
    """
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def run() -> None:
        try:
            verifier.verify()
            outcome.append(None)
        except BaseException as exc:  # handed to the caller below
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="pact-verify", daemon=True).start()
    if not done.wait(deadline_s):
        raise VerificationHung(f"the pact verifier did not return within {deadline_s:.0f} s")
    error = outcome[0]
    if error is not None:
        raise error


def _failures(verifier: Any) -> list[str]:
    try:
        errors = verifier.results.get("errors", [])
    except Exception:
        return []
    found = []
    for error in errors:
        mismatch = error.get("mismatch") or {}
        details = [m.get("mismatch", "") for m in mismatch.get("mismatches", [])] or [str(mismatch.get("message", ""))]
        found.append(f"{error.get('interaction', '?')}: {'; '.join(d for d in details if d)}")
    return found
