"""The TLS hot path: C-level record calls on the peer-checked TLS object, per-connection write coalescing, no
session tickets, the per-connection token and allow-rule memos — each still refusing what it refused before."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from baton.security.ca import CertificateAuthority
from baton.security.crypto import Keyring, MasterKey
from baton.security.mtls import PeerCheckedSSLObject, SpiffeAuthorization, client_context, only, server_context
from baton.security.mtls.asgi import TlsHttpToolsProtocol, _CoalescingTransport
from baton.security.mtls.authorization import AccessRules
from baton.security.spiffe import spiffe_id
from baton.security.tokens import ServiceTokenAuth, StaticJwksFetcher, TokenIssuer, TokenVerifier
from baton.security.tokens.middleware import CONNECTION_EXTENSION
from baton.security.tokens.verifier import VerifiedToken


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    home: Path = tmp_path_factory.mktemp("ca")
    return CertificateAuthority.open(home, keyring=Keyring(MasterKey.generate()))


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.SSLObject, list]:
    """Two TLS objects over memory BIOs, handshaken by pumping bytes between them (as uvloop does)."""
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=None)
    done = {"server": False, "client": False}
    for _ in range(10):
        for name, obj in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        if all(done.values()):
            break
    return server, client, [s_in, s_out, c_in, c_out]


def test_record_calls_are_the_c_methods_and_carry_data(ca):
    server_ctx = server_context(ca.issue_leaf("hello", "hello-1"), ca.trust_bundle())
    client_ctx = client_context(ca.issue_leaf("order", "order-1"), ca.trust_bundle(), expect=only("hello"))
    server, client, (s_in, s_out, c_in, c_out) = handshake(server_ctx, client_ctx)
    assert isinstance(server, PeerCheckedSSLObject)
    assert type(server.read).__name__ == "builtin_function_or_method"  # not the Python wrapper
    assert server.version() == "TLSv1.3"

    assert client.write(b"GET / HTTP/1.1\r\n\r\n") == 18
    s_in.write(c_out.read())
    assert server.pending() == 0
    buffer = bytearray(64)
    assert server.read(64, buffer) == 18
    assert bytes(buffer[:18]) == b"GET / HTTP/1.1\r\n\r\n"
    server.write(b"HTTP/1.1 200 OK\r\n\r\n")
    c_in.write(s_out.read())
    assert client.read(1024) == b"HTTP/1.1 200 OK\r\n\r\n"
    with pytest.raises(ssl.SSLWantReadError):
        server.read(1024)


def test_the_peer_check_still_refuses_an_identity_not_allowed(ca):
    server_ctx = server_context(ca.issue_leaf("hello", "hello-1"), ca.trust_bundle())
    client_ctx = client_context(ca.issue_leaf("order", "order-1"), ca.trust_bundle(), expect=only("payment"))
    with pytest.raises(ssl.SSLCertVerificationError, match="svc/hello is not allowed"):
        handshake(server_ctx, client_ctx)


def test_servers_mint_no_session_tickets(ca):
    assert server_context(ca.issue_leaf("hello", "hello-1"), ca.trust_bundle()).num_tickets == 0


class RecordingTransport:
    """In-memory stand-in for the TLS transport: records each write (one TLS record each on the real one)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)

    def pause_reading(self) -> None:
        self.paused = True


async def test_head_and_body_go_out_as_one_write():
    raw = RecordingTransport()
    wrapped = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    for sent in range(2):  # a keep-alive connection: the same wrapper for every response
        wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert len(raw.writes) == sent  # held
        wrapped.write(b"{}")
        assert raw.writes[-1] == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    await asyncio.sleep(0)  # the cancelled flush runs to nothing
    assert len(raw.writes) == 2


async def test_a_lone_write_goes_out_at_the_next_loop_iteration():
    raw = RecordingTransport()
    wrapped = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    wrapped.write(b"HTTP/1.1 200 OK\r\n\r\n")  # a stream's head; its body comes later
    assert raw.writes == []
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\n"]
    wrapped.write(memoryview(b"chunk"))
    wrapped.writelines([b"a", b"b"])
    assert raw.writes[-1] == b"chunkab"


async def test_close_flushes_first_abort_drops_and_the_rest_is_the_transports():
    raw = RecordingTransport()
    wrapped = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    wrapped.write(b"bye")
    wrapped.close()
    assert raw.writes == [b"bye"]
    assert raw.closed
    assert wrapped.is_closing()
    await asyncio.sleep(0)
    assert raw.writes == [b"bye"]  # the scheduled flush found nothing left

    other = RecordingTransport()
    wrapped = _CoalescingTransport(other, asyncio.get_running_loop())  # type: ignore[arg-type]
    wrapped.write(b"never")
    wrapped.abort()
    await asyncio.sleep(0)
    assert other.writes == []
    assert other.aborted
    assert wrapped.get_extra_info("peername") == ("127.0.0.1", 1)
    wrapped.pause_reading()
    assert other.paused


async def test_the_whole_transport_api_reaches_the_real_transport():
    raw = mock.Mock(spec=asyncio.Transport)
    raw.get_write_buffer_size.return_value = 10
    raw.is_closing.return_value = False
    wrapped = _CoalescingTransport(raw, asyncio.get_running_loop())
    public = [name for name in dir(asyncio.Transport) if not name.startswith("_")]
    assert all(callable(getattr(wrapped, name)) for name in public)
    wrapped.write(b"abc")
    assert wrapped.get_write_buffer_size() == 13  # the held bytes count as buffered
    protocol = asyncio.Protocol()
    wrapped.set_protocol(protocol)
    wrapped.set_write_buffer_limits(high=64)
    wrapped.resume_reading()
    raw.set_protocol.assert_called_once_with(protocol)
    raw.set_write_buffer_limits.assert_called_once_with(64, None)
    raw.resume_reading.assert_called_once_with()
    await asyncio.sleep(0)
    raw.write.assert_called_once_with(b"abc")


async def test_a_held_buffer_is_copied_so_the_caller_may_reuse_it():
    raw = RecordingTransport()
    wrapped = _CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    buffer = bytearray(b"head;")
    wrapped.write(buffer)
    buffer[:] = b"XXXXX"
    wrapped.write(memoryview(b"body"))
    assert raw.writes == [b"head;body"]


async def test_the_scope_is_uvicorns_own_plus_the_tls_extension():
    """TlsHttpToolsProtocol.on_message_begin is uvicorn's: same attributes set, same scope, plus ``extensions``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass  # never called: no request is parsed

    config = Config(app, http="httptools", root_path="/root")
    theirs, ours = (
        cls(config=config, server_state=ServerState(), app_state={"db": 1})
        for cls in (HttpToolsProtocol, TlsHttpToolsProtocol)
    )
    transport = RecordingTransport()
    for protocol in (theirs, ours):
        HttpToolsProtocol.connection_made(protocol, transport)  # type: ignore[arg-type]  # no TLS to read here
        protocol.url = b"/stale"
        protocol.expect_100_continue = True
    ours._tls, ours._connection = {"spiffe_id": spiffe_id("order")}, {}
    their_before, our_before = dict(vars(theirs)), dict(vars(ours))

    theirs.on_message_begin()
    ours.on_message_begin()

    def changed(protocol: HttpToolsProtocol, before: dict[str, Any]) -> set[str]:
        return {name for name, value in vars(protocol).items() if name not in before or before[name] is not value}

    assert changed(theirs, their_before) == {"url", "expect_100_continue", "headers", "scope"}
    assert changed(ours, our_before) == changed(theirs, their_before)
    assert (ours.url, ours.expect_100_continue, ours.headers) == (b"", False, [])
    assert (theirs.url, theirs.expect_100_continue, theirs.headers) == (b"", False, [])
    scope = dict(ours.scope)
    extensions = scope.pop("extensions")  # type: ignore[misc]
    assert scope == theirs.scope
    assert ours.scope["headers"] is ours.headers
    assert ours.scope["state"] == {"db": 1}
    assert ours.scope["state"] is not ours.app_state
    assert extensions == {"tls": ours._tls, CONNECTION_EXTENSION: ours._connection}
    assert extensions["tls"] is ours._tls
    assert extensions[CONNECTION_EXTENSION] is ours._connection
    ours.on_message_begin()
    assert ours.scope["extensions"] is not extensions  # a fresh dict per request: nothing leaks between them

    plain = TlsHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    HttpToolsProtocol.connection_made(plain, transport)  # type: ignore[arg-type]
    plain.on_message_begin()  # no TLS on this connection: uvicorn's scope as it is
    assert "extensions" not in plain.scope


# -- the per-connection token memo of ServiceTokenAuth -------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingVerifier(TokenVerifier):
    """The real verifier, counting how often the middleware had to consult its cache or verify."""

    lookups = 0

    def cached(self, token: str) -> VerifiedToken | None:
        self.lookups += 1
        return super().cached(token)


def request(token: str | bytes, peer: str, connection: dict[Any, Any]) -> dict[str, Any]:
    raw = token.encode() if isinstance(token, str) else token
    return {
        "type": "http",
        "path": "/v1/stock",
        "headers": [(b"host", b"inventory"), (b"x-baton-service-token", raw)],
        "extensions": {"tls": {"spiffe_id": spiffe_id(peer)}, CONNECTION_EXTENSION: connection},
    }


async def call(app: ServiceTokenAuth | SpiffeAuthorization, scope: dict[str, Any]) -> tuple[int, object]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], scope.get("state", {}).get("principal")


@pytest.fixture
def guarded() -> tuple[ServiceTokenAuth, CountingVerifier, TokenIssuer, Clock]:
    clock = Clock()
    issuer = TokenIssuer("https://control.test", clock=clock)
    verifier = CountingVerifier("https://control.test", StaticJwksFetcher(issuer.jwks), "inventory", clock=clock)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return ServiceTokenAuth(app, verifier), verifier, issuer, clock


async def test_a_connections_repeated_token_is_answered_from_its_memo(guarded):
    auth, verifier, issuer, _ = guarded
    token = issuer.issue(sub="order", aud="inventory", ttl=300)
    connection: dict[Any, Any] = {}
    assert (await call(auth, request(token, "order", connection)))[0] == 200
    first = verifier.lookups
    assert first > 0
    for _ in range(3):
        status, principal = await call(auth, request(token, "order", connection))
        assert status == 200
        assert principal.subject == "order"
    assert verifier.lookups == first  # matched the connection's memo byte for byte: no lookup
    other_connection: dict[Any, Any] = {}
    assert (await call(auth, request(token, "order", other_connection)))[0] == 200
    assert verifier.lookups == first + 1  # memos are per connection (the verifier's cache answers there)


async def test_the_memo_never_admits_another_token_an_expired_one_or_a_stolen_one(guarded):
    auth, _, issuer, clock = guarded
    token = issuer.issue(sub="order", aud="inventory", ttl=60)
    connection: dict[Any, Any] = {}
    assert (await call(auth, request(token, "order", connection)))[0] == 200
    # Tampered signature: change a character well inside it (the last ones carry padding bits, and "AA" may be
    # what they already were).
    at = token.rindex(".") + 5
    tampered = token[:at] + ("B" if token[at] != "B" else "C") + token[at + 1 :]
    assert (await call(auth, request(tampered, "order", connection)))[0] == 401
    assert (await call(auth, request(token + " ", "order", connection)))[0] == 200  # same token, padded: verified
    clock.now += 60 + auth.verifier.leeway + 1
    assert (await call(auth, request(token, "order", connection)))[0] == 401  # expired, memo or not
    clock.now -= 60 + auth.verifier.leeway + 1
    # A token issued to "order", presented on a connection whose certificate says "payment": refused, never memoised.
    lifted: dict[Any, Any] = {}
    assert (await call(auth, request(token, "payment", lifted)))[0] == 401
    assert lifted == {}


# -- the per-connection allow-rule memo of SpiffeAuthorization ----------------------------------------------


def peer_request(path: str, peer: str, connection: dict[Any, Any]) -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "headers": [],
        "extensions": {"tls": {"spiffe_id": spiffe_id(peer)}, CONNECTION_EXTENSION: connection},
    }


async def test_a_connections_allowed_path_is_memoised_and_nothing_else():
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["state"]["peer"] == spiffe_id("order")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    authz = SpiffeAuthorization(app, allow={"/v1/stock": ["order"], "/v1/admin": ["control"]})
    connection: dict[Any, Any] = {}
    assert (await call(authz, peer_request("/v1/stock/42", "order", connection)))[0] == 200
    assert connection  # the decision is memoised on the connection
    # From now on the rules would refuse everyone: only this connection's memo still answers, for that path only.
    authz.rules = AccessRules()
    authz._decisions.clear()
    assert (await call(authz, peer_request("/v1/stock/42", "order", connection)))[0] == 200
    assert (await call(authz, peer_request("/v1/stock/43", "order", connection)))[0] == 403
    assert (await call(authz, peer_request("/v1/stock/42", "order", {})))[0] == 403  # another connection


async def test_the_memo_never_admits_a_path_the_rules_refuse():
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    authz = SpiffeAuthorization(app, allow={"/v1/stock": ["order"], "/v1/admin": ["control"]})
    connection: dict[Any, Any] = {}
    assert (await call(authz, peer_request("/v1/stock", "order", connection)))[0] == 200
    for refused in ("/v1/admin", "/v1/stockpile", "/v1/admin/users"):
        assert (await call(authz, peer_request(refused, "order", connection)))[0] == 403
    assert (await call(authz, peer_request("/v1/stock", "order", connection)))[0] == 200
    plain = peer_request("/v1/stock", "order", connection)
    del plain["extensions"]  # no TLS extension: fails closed whatever the memo holds
    assert (await call(authz, plain))[0] == 401
