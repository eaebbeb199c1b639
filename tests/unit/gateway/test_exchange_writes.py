"""How a streamed answer reaches the client's transport: head and body in one write when they arrive together."""

from __future__ import annotations

import io
from pathlib import Path
from unittest.mock import Mock

import pytest

from baton.gateway import Gateway, parse_config
from baton.gateway.connection import ClientConnection
from baton.gateway.pool import UpstreamConnection

UPSTREAM = ("http", "127.0.0.1", 9, "hello")
REQUEST = b"GET /v1/hello HTTP/1.1\r\nHost: gw\r\n\r\n"
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"


class Transport(Mock):
    """An asyncio transport's surface the gateway's protocols use; ``written`` is what they wrote, in order."""

    @property
    def written(self) -> list[bytes]:
        return [call.args[0] for call in self.write.call_args_list]


def transport() -> Transport:
    made = Transport()
    made.get_extra_info.return_value = ("127.0.0.1", 40000)
    made.is_closing.return_value = False
    return made


async def _wired(tmp_path: Path, request: bytes = REQUEST) -> tuple[Gateway, UpstreamConnection, Transport, Transport]:
    config = parse_config(
        {
            "services": {"hello": ["http://127.0.0.1:9"]},
            "routes": [{"prefix": "/hello", "version": "v1", "service": "hello"}],
        }
    )
    gateway = Gateway(config, home=tmp_path, access_log=io.BytesIO())
    await gateway.start("127.0.0.1", 0)
    assert gateway.state is not None
    upstream = UpstreamConnection(gateway.state.pool, UPSTREAM)
    upstream_transport = transport()
    upstream.connection_made(upstream_transport)  # type: ignore[arg-type]
    gateway.state.pool.release(upstream)
    client = ClientConnection(gateway.state)
    client_transport = transport()
    client.connection_made(client_transport)  # type: ignore[arg-type]
    client.data_received(request)
    assert upstream_transport.written[0].startswith(b"GET /v1/hello HTTP/1.1\r\n")
    return gateway, upstream, client_transport, upstream_transport


async def test_head_and_body_read_together_go_out_in_one_write(tmp_path: Path) -> None:
    gateway, upstream, client, _ = await _wired(tmp_path)
    try:
        upstream.data_received(HEAD + b"content-length: 5\r\n\r\nhello")
        assert len(client.written) == 1
        assert client.written[0].startswith(b"HTTP/1.1 200 OK\r\n")
        assert client.written[0].endswith(b"\r\n\r\nhello")
    finally:
        await gateway.aclose(grace=0.1)


async def test_a_head_without_its_body_is_not_held_back_past_the_read(tmp_path: Path) -> None:
    gateway, upstream, client, _ = await _wired(tmp_path)
    try:
        upstream.data_received(HEAD + b"transfer-encoding: chunked\r\n\r\n")
        assert len(client.written) == 1  # the head, at the end of the read that brought it
        head = client.written[0]
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"transfer-encoding: chunked\r\n" in head
        assert head.endswith(b"\r\n\r\n")
        upstream.data_received(b"5\r\nhello\r\n")
        assert client.written[1:] == [b"5\r\nhello\r\n"]
        upstream.data_received(b"0\r\n\r\n")
        assert client.written[2:] == [b"0\r\n\r\n"]
    finally:
        await gateway.aclose(grace=0.1)


async def test_a_bodyless_answer_is_written_once_when_it_ends(tmp_path: Path) -> None:
    gateway, upstream, client, _ = await _wired(tmp_path)
    try:
        upstream.data_received(b"HTTP/1.1 204 No Content\r\n\r\n")
        assert len(client.written) == 1
        assert client.written[0].startswith(b"HTTP/1.1 204 No Content\r\n")
        assert client.written[0].endswith(b"\r\n\r\n")
    finally:
        await gateway.aclose(grace=0.1)


@pytest.mark.parametrize(
    ("version", "connection", "framing", "closes", "keep_alive_header"),
    [
        (b"1.1", b"", b"transfer-encoding: chunked", False, False),
        (b"1.1", b"Connection: close\r\n", b"transfer-encoding: chunked", True, False),
        (b"1.1", b"Connection: keep-alive\r\n", b"transfer-encoding: chunked", False, False),
        (b"1.0", b"", None, True, False),  # no chunked framing for HTTP/1.0: the body ends with the connection
        (b"1.0", b"Connection: keep-alive\r\n", None, True, False),  # unframed body: the connection must close
    ],
)
async def test_a_streamed_answer_is_framed_for_the_clients_http_version(
    tmp_path: Path, version: bytes, connection: bytes, framing: bytes | None, closes: bool, keep_alive_header: bool
) -> None:
    request = b"GET /v1/hello HTTP/%s\r\nHost: gw\r\n%s\r\n" % (version, connection)
    gateway, upstream, client, _ = await _wired(tmp_path, request)
    try:
        upstream.data_received(HEAD + b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        answer = b"".join(client.written)
        head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert (framing in head) if framing is not None else not any(b"transfer-encoding" in h for h in head)
        assert (b"connection: close" in head) == closes
        assert (b"connection: keep-alive" in head) == keep_alive_header
        assert answer.endswith(b"5\r\nhello\r\n0\r\n\r\n" if framing is not None else b"hello")
    finally:
        await gateway.aclose(grace=0.1)


async def test_an_http10_keep_alive_client_is_told_its_connection_stays_open(tmp_path: Path) -> None:
    request = b"GET /v1/hello HTTP/1.0\r\nHost: gw\r\nConnection: keep-alive\r\n\r\n"
    gateway, upstream, client, _ = await _wired(tmp_path, request)
    try:
        upstream.data_received(HEAD + b"content-length: 5\r\n\r\nhello")
        head = b"".join(client.written).split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert b"connection: keep-alive" in head
        assert b"connection: close" not in head
    finally:
        await gateway.aclose(grace=0.1)


@pytest.mark.parametrize("counter", [0, 0xFFFFFFFE, 0xFFFFFFFF, 0x123456789])
async def test_minted_correlation_ids_are_the_prefix_and_the_counter_in_hex(tmp_path: Path, counter: int) -> None:
    config = parse_config(
        {
            "services": {"hello": ["http://127.0.0.1:9"]},
            "routes": [{"prefix": "/hello", "version": "v1", "service": "hello"}],
        }
    )
    gateway = Gateway(config, home=tmp_path, access_log=io.BytesIO())
    await gateway.start("127.0.0.1", 0)
    try:
        state = gateway.state
        assert state is not None
        state._id_counter = counter
        upstream = UpstreamConnection(state.pool, UPSTREAM)
        upstream_transport = transport()
        upstream.connection_made(upstream_transport)  # type: ignore[arg-type]
        state.pool.release(upstream)
        client = ClientConnection(state)
        client_transport = transport()
        client.connection_made(client_transport)  # type: ignore[arg-type]
        client.data_received(REQUEST)
        expected = f"{state._id_prefix}{counter + 1:08x}".encode()
        assert b"\r\nx-correlation-id: " + expected + b"\r\n" in upstream_transport.written[0]
        upstream.data_received(HEAD + b"content-length: 2\r\n\r\nok")
        assert b"\r\nx-correlation-id: " + expected + b"\r\n" in client_transport.written[0]
    finally:
        await gateway.aclose(grace=0.1)


@pytest.mark.parametrize("size", [10, 5000])
async def test_a_buffered_answer_states_its_own_length(tmp_path: Path, size: int) -> None:
    gateway, upstream, client, _ = await _wired(tmp_path)
    try:
        body = b'{"error":"%s"}' % (b"x" * size)
        head = b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n"
        upstream.data_received(head + b"content-length: %d\r\n\r\n%s" % (len(body), body))
        answer = b"".join(client.written)
        head_out, _, body_out = answer.partition(b"\r\n\r\n")
        assert body_out == body  # nothing to strip: the upstream's document, re-serialised the same
        assert b"\r\ncontent-length: %d\r\n" % len(body) in head_out + b"\r\n"
    finally:
        await gateway.aclose(grace=0.1)
