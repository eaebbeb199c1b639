"""Certificate renewal without restarts: the hot swap, the half-life timer, and rotation under load."""

from __future__ import annotations

import asyncio
import ssl
from datetime import timedelta

import aiohttp
import pytest

from baton.kit.component import InstanceContext
from baton.kit.settings import InstanceSettings
from baton.security.certs import certs_from_pem
from baton.security.mtls import (
    CertificateRenewer,
    Credentials,
    LocalCertificateSource,
    PeerCheckedSSLObject,
    SpiffeAuthorization,
    client_context,
    only,
    server_context,
)
from baton.security.tokens import (
    LocalTokenSource,
    ServiceTokenAuth,
    ServiceTokenProvider,
    StaticJwksFetcher,
    TokenIssuer,
    TokenVerifier,
)
from baton.testing import wait_until

from .conftest import hello_app, serving

pytestmark = pytest.mark.integration


def serial_of(pem: str) -> int:
    return certs_from_pem(pem)[0].serial_number


async def make_renewer(ca, service: str, ttl: timedelta = timedelta(hours=1)) -> CertificateRenewer:
    source = LocalCertificateSource(ca, service, f"{service}-1", ttl=ttl)
    return CertificateRenewer(source, initial=await source.fetch())


class RawConnection:
    """One TLS connection speaking HTTP/1.1 keep-alive by hand, so the test knows exactly which socket is used."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str, context: ssl.SSLContext) -> RawConnection:
        host, port = url.removeprefix("https://").split(":")
        return cls(*await asyncio.open_connection(host, int(port), ssl=context))

    @property
    def server_serial(self) -> int:
        der = self.writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return serial_of(ssl.DER_cert_to_PEM_cert(der))

    async def get_status(self, path: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def test_renewal_hot_swaps_new_connections_and_keeps_open_ones(ca):
    server = await make_renewer(ca, "inventory")
    context = server_context(server.credentials.leaf, server.credentials.bundle_pem)
    server.attach(context)
    client = client_context(ca.issue_leaf("order", "order-1"), ca.trust_bundle(), expect=only("inventory"))
    old_serial = serial_of(server.credentials.leaf.cert_pem)
    async with serving(SpiffeAuthorization(hello_app(), allow={"/v1/stock": ["order"]}), context=context) as url:
        before = await RawConnection.open(url, client)
        assert await before.get_status("/v1/stock") == 200
        assert before.server_serial == old_serial

        await server.renew()
        new_serial = serial_of(server.credentials.leaf.cert_pem)
        assert new_serial != old_serial

        # The open connection keeps working on the certificate it was opened with...
        assert await before.get_status("/v1/stock") == 200
        assert before.server_serial == old_serial
        # ...while a new one, on the very same listener and SSLContext, gets the new certificate.
        after = await RawConnection.open(url, client)
        assert await after.get_status("/v1/stock") == 200
        assert after.server_serial == new_serial
        await before.close()
        await after.close()


async def test_client_side_renewal_presents_the_new_certificate_on_new_connections(ca):
    context = server_context(ca.issue_leaf("inventory", "inventory-1"), ca.trust_bundle())
    client = await make_renewer(ca, "order")
    client_ctx = client_context(client.credentials.leaf, client.credentials.bundle_pem)
    client.attach(client_ctx)
    async with serving(hello_app(), context=context) as url:
        seen, expected = [], []
        for _ in range(2):
            expected.append(serial_of(client.credentials.leaf.cert_pem))
            connector = aiohttp.TCPConnector(ssl=client_ctx, force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session, session.get(url + "/v1/stock") as answer:
                seen.append(serial_of((await answer.json())["client_cert"]))
            await client.renew()
    assert seen == expected  # the server saw exactly the leaf the client held at each connection
    assert seen[0] != seen[1]


async def test_renewer_component_renews_at_half_life_and_writes_the_store(ca, tmp_path):
    store = tmp_path / "certs" / "inventory-1"
    renewer = CertificateRenewer(
        LocalCertificateSource(ca, "inventory", "inventory-1", ttl=timedelta(seconds=2)), store=store
    )
    ctx = InstanceContext(service="inventory", instance="inventory-1", settings=InstanceSettings())
    await renewer.start(ctx)
    try:
        first = renewer.credentials.leaf
        assert renewer.next_renewal() == first.renew_at()
        await wait_until(lambda: renewer.renewals >= 2, timeout=5)
        assert renewer.credentials.leaf.cert_pem != first.cert_pem
        await renewer.check()
        on_disk = Credentials.read(store)
        assert on_disk.leaf.spiffe_id == "spiffe://baton.local/svc/inventory"
        assert (store / "key.pem").stat().st_mode & 0o777 == 0o600
    finally:
        await renewer.stop()
    renewals = renewer.renewals
    await renewer.stop()  # idempotent
    assert renewer.renewals == renewals


async def test_rotation_under_load_has_zero_failed_requests(ca):
    """Keep-alive and fresh-connection clients hammer a server whose leaf is renewed twice and whose root is
    rotated (prepare → both sides renew → activate → server renews): not one request may fail."""
    issuer = TokenIssuer("https://control.test")
    verifier = TokenVerifier("https://control.test", StaticJwksFetcher(issuer.jwks), "inventory")
    server = await make_renewer(ca, "inventory")
    client = await make_renewer(ca, "order")
    server_ctx = server_context(server.credentials.leaf, server.credentials.bundle_pem)
    client_ctx = client_context(client.credentials.leaf, client.credentials.bundle_pem, expect=only("inventory"))
    server.attach(server_ctx)
    client.attach(client_ctx)
    tokens = ServiceTokenProvider(LocalTokenSource(issuer, "order"))
    app = ServiceTokenAuth(SpiffeAuthorization(hello_app(), allow={"/v1/stock": ["order"]}), verifier)

    ok = 0
    failures: list[str] = []
    serials: set[int] = set()

    class Recording(PeerCheckedSSLObject):
        """Notes the serial of the server certificate of every new client connection."""

        def do_handshake(self) -> None:
            super().do_handshake()
            serials.add(serial_of(ssl.DER_cert_to_PEM_cert(self.getpeercert(binary_form=True))))

    client_ctx.sslobject_class = Recording
    stop = asyncio.Event()

    async def hammer(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal ok
        while not stop.is_set():
            try:
                headers = {"X-Baton-Service-Token": str(await tokens("inventory"))}
                async with session.get(url + "/v1/stock", headers=headers) as answer:
                    body = await answer.json()
                    if answer.status != 200:
                        failures.append(f"HTTP {answer.status}")
                    else:
                        ok += 1
                        assert body["peer"] == "spiffe://baton.local/svc/order"
            except (aiohttp.ClientError, OSError) as exc:
                failures.append(repr(exc))

    async with serving(app, context=server_ctx) as url:
        keep_alive = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx, limit=2))
        fresh = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx, force_close=True))
        async with keep_alive, fresh:
            workers = [asyncio.create_task(hammer(s, url)) for s in (keep_alive, keep_alive, fresh, fresh)]
            try:
                checkpoints = []

                async def progress() -> None:
                    start = ok
                    await wait_until(lambda: ok >= start + 40, timeout=20)
                    checkpoints.append(ok)

                await progress()
                await server.renew()  # renewal 1: a new leaf from the same issuer
                await progress()
                ca.prepare_root()  # root rotation, step 1: everyone learns the new root...
                await client.renew()
                await server.renew()  # renewal 2
                await progress()
                ca.activate_root()  # ...step 2: new leaves chain to it
                await server.renew()  # renewal 3, now under the new root
                await client.renew()
                await progress()
            finally:
                stop.set()
                await asyncio.gather(*workers)
    assert failures == []
    assert ok >= 160
    assert len(serials) == 4  # new connections saw the initial leaf and each of the three renewals
    assert server.renewals == 3
