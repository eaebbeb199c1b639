"""How a streamed answer reaches the client's transport: head and body in one write when they arrive together."""

from __future__ import annotations

import io
from pathlib import Path
from unittest.mock import Mock

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


async def _wired(tmp_path: Path) -> tuple[Gateway, UpstreamConnection, Transport, Transport]:
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
    client.data_received(REQUEST)
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
