"""A provider change that breaks a consumer's pact fails verification, and can-i-deploy says no.

Real pact-python end to end: the consumer's code calls Pact's mock server and writes the pact into a contract
store; the provider runs as a real HTTP server (uvicorn) and is verified by Pact's verifier; ``baton contracts
can-i-deploy`` answers from the store.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pact import match

from baton.delivery.contracts import ContractStore, can_i_deploy, consumer_pact, publish, verify_provider
from baton.events.server import free_port
from baton.testing.waiting import wait_until_sync

pytestmark = pytest.mark.integration


def stock_level(base_url: str, product: str) -> int:
    """The consumer's code: how many units can be sold."""
    return int(httpx.get(f"{base_url}/v1/stock/{product}", timeout=5).json()["available"])


def provider_app(*, renamed: bool) -> FastAPI:
    """Inventory v1 answers ``available``; v2 "tidies up" the field name to ``units`` — a breaking change."""
    app = FastAPI()
    stock: dict[str, int] = {}

    @app.post("/_state/{product}/{units}")
    def set_stock(product: str, units: int) -> dict[str, int]:
        stock[product] = units
        return {"ok": 1}

    @app.get("/v1/stock/{product}")
    def get_stock(product: str) -> dict[str, object]:
        field = "units" if renamed else "available"
        return {"product_id": product, field: stock.get(product, 0)}

    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_sync(lambda: server.started, timeout=10, message="provider listening")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_breaking_provider_change_fails_verification_and_blocks_deployment(tmp_path: Path) -> None:
    store = ContractStore(tmp_path / "contracts")
    pact = consumer_pact("shopfront", "inventory")
    (
        pact.upon_receiving("a stock query")
        .given("product p-1 has 7 units")
        .with_request("GET", "/v1/stock/p-1")
        .will_respond_with(200)
        .with_body({"product_id": "p-1", "available": match.int(7)}, content_type="application/json")
    )
    with pact.serve() as mock:
        assert stock_level(str(mock.url), "p-1") == 7
    publish(pact, store, consumer_version="1.0.0")

    for version, renamed in (("2.0.0", False), ("2.1.0", True)):
        with serving(provider_app(renamed=renamed)) as url:
            states = {"product p-1 has 7 units": lambda url=url: httpx.post(f"{url}/_state/p-1/7").raise_for_status()}
            verify_provider(store, "inventory", version, url=url, states=states)

    ok, broken = (store.verification(store.pacts(provider="inventory")[0], v) for v in ("2.0.0", "2.1.0"))
    assert ok is not None
    assert ok.success
    assert broken is not None
    assert not broken.success
    assert any("available" in failure for failure in broken.failures), broken.failures

    store.record_deployment("production", "shopfront", "1.0.0")
    store.record_deployment("production", "inventory", "2.0.0")
    assert can_i_deploy(store, "inventory", "2.0.0", "production").ok
    decision = can_i_deploy(store, "inventory", "2.1.0", "production")
    assert not decision.ok
    assert "shopfront 1.0.0 → inventory by inventory 2.1.0: verification failed" in decision.reasons[0]

    # The same answer from the CLI, with the exit status a pipeline gates on.
    command = [sys.executable, "-m", "baton.cli.main", "contracts", "can-i-deploy", "inventory"]
    common = ["--to", "production", "--store", str(store.root), "-f", str(tmp_path / "baton.yaml")]
    no = subprocess.run([*command, "--version", "2.1.0", *common], capture_output=True, text=True, timeout=60)
    yes = subprocess.run([*command, "--version", "2.0.0", *common], capture_output=True, text=True, timeout=60)
    assert no.returncode == 1
    assert "no" in no.stdout
    assert "verification failed" in no.stdout
    assert yes.returncode == 0
    assert "yes" in yes.stdout
