"""``FaultProxy``: an asyncio TCP proxy that injects faults between a client and a real server.

A small stand-in for Toxiproxy (not installable here). Put it in front of a server and steer it from the
test::

    async with FaultProxy("127.0.0.1", server_port) as proxy:
        client = ServiceClient("inventory", base_url=proxy.url)
        proxy.latency(0.2, jitter=0.05)   # every answer chunk delayed 150–250 ms
        proxy.hang()                      # accept and swallow requests, never answer
        proxy.reset()                     # reset connections (new ones at once, live ones on next data)
        proxy.bandwidth(10_000)           # answers trickle at 10 kB/s
        proxy.down(); await proxy.up()    # refuse connections / listen again on the same port
        proxy.http_errors(0.5, status=503)  # HTTP mode: answer 503 to half the requests, forward the rest
        proxy.clear()                     # all faults off

Faults apply to new data immediately, on live connections too.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from types import TracebackType
from typing import Self

_READ = 65536


class FaultProxy:
    """A controllable TCP (and HTTP/1.1) proxy to ``upstream_host:upstream_port``."""

    def __init__(
        self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1", port: int = 0, seed: int = 0
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.clear()
        self.connections = 0
        """Connections accepted so far."""
        self.forwarded = 0
        """HTTP requests forwarded to the upstream (HTTP mode)."""
        self.injected = 0
        """HTTP error answers injected (HTTP mode)."""

    # Controls.

    def clear(self) -> None:
        """Turn every fault off."""
        self._latency = 0.0
        self._jitter = 0.0
        self._hang = False
        self._reset = False
        self._rate: float | None = None
        self._error_share = 0.0
        self._error_status = 503

    def latency(self, seconds: float, *, jitter: float = 0.0) -> None:
        """Delay each chunk sent back to the client by ``seconds`` ± ``jitter`` (uniform)."""
        self._latency, self._jitter = seconds, jitter

    def hang(self, on: bool = True) -> None:
        """Swallow everything the client sends; never answer (a hung dependency)."""
        self._hang = on

    def reset(self, on: bool = True) -> None:
        """Reset connections with a TCP RST: new ones at once, live ones on their next data."""
        self._reset = on

    def bandwidth(self, bytes_per_second: float | None) -> None:
        """Throttle answers to ``bytes_per_second`` (``None`` removes the limit)."""
        self._rate = bytes_per_second

    def http_errors(self, share: float, *, status: int = 503) -> None:
        """HTTP mode: answer ``status`` to ``share`` (0..1) of requests without forwarding them."""
        self._error_share, self._error_status = share, status

    def down(self) -> None:
        """Stop listening and drop every live connection (callers see connection refused)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            _rst(writer)

    async def up(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxy."""
        return f"http://{self.host}:{self.port}"

    # Lifecycle.

    async def __aenter__(self) -> Self:
        await self.up()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening, close every connection and wait for the proxy's tasks to end."""
        self.down()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # Plumbing.

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            if self._reset:
                _rst(writer)
                return
            try:
                up_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                _rst(writer)
                return
            self._writers.add(upstream_writer)
            if self._error_share > 0:
                await self._http(reader, writer, up_reader, upstream_writer)
            else:
                await self._tcp(reader, writer, up_reader, upstream_writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.close()
            self._tasks.discard(task)

    async def _tcp(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        # Both directions belong to this connection's task: whichever ends first (EOF, reset) ends the other.
        pipes = {
            asyncio.create_task(self._pipe(reader, up_writer, client_side=writer, answer=False)),
            asyncio.create_task(self._pipe(up_reader, writer, client_side=writer, answer=True)),
        }
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            for pipe in pipes:
                with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
                    await pipe

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        *,
        client_side: asyncio.StreamWriter,
        answer: bool,
    ) -> None:
        while True:
            data = await source.read(_READ)
            if not data:
                return
            if self._reset:
                _rst(client_side)
                return
            if self._hang:
                continue
            if answer:
                await self._delay()
                await self._throttled_write(sink, data)
            else:
                sink.write(data)
                await sink.drain()

    async def _http(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            request = head + await _read_body(reader, head, response=False)
            if self._reset:
                _rst(writer)
                return
            if self._hang:
                continue
            if self._error_share > 0 and self._rng.random() < self._error_share:
                self.injected += 1
                writer.write(_error_answer(self._error_status))
                await writer.drain()
                continue
            self.forwarded += 1
            up_writer.write(request)
            await up_writer.drain()
            answer_head = await up_reader.readuntil(b"\r\n\r\n")
            no_body = head.startswith(b"HEAD ") or answer_head[9:12] in (b"204", b"304")
            body = b"" if no_body else await _read_body(up_reader, answer_head, response=True)
            await self._delay()
            await self._throttled_write(writer, answer_head + body)

    async def _delay(self) -> None:
        if self._latency > 0:
            spread = self._rng.uniform(-self._jitter, self._jitter) if self._jitter else 0.0
            await asyncio.sleep(max(0.0, self._latency + spread))

    async def _throttled_write(self, sink: asyncio.StreamWriter, data: bytes) -> None:
        rate = self._rate
        if not rate:
            sink.write(data)
            await sink.drain()
            return
        step = max(1, int(rate / 20))  # 50 ms slices keep the trickle smooth
        for start in range(0, len(data), step):
            sink.write(data[start : start + step])
            await sink.drain()
            await asyncio.sleep(step / rate)


async def _read_body(reader: asyncio.StreamReader, head: bytes, *, response: bool) -> bytes:
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            parts.append(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    trailer = await reader.readuntil(b"\r\n")
                    parts.append(trailer)
                    if trailer == b"\r\n":
                        return b"".join(parts)
            parts.append(await reader.readexactly(size + 2))
    marker = lowered.find(b"content-length:")
    if marker >= 0:
        end = lowered.index(b"\r\n", marker)
        return await reader.readexactly(int(lowered[marker + 15 : end].strip()))
    if response:
        return await reader.read()  # an answer delimited by closing the connection
    return b""


def _error_answer(status: int) -> bytes:
    body = b'{"type":"about:blank","title":"Injected by FaultProxy","status":%d}' % status
    return (
        b"HTTP/1.1 %d Injected\r\ncontent-type: application/problem+json\r\ncontent-length: %d\r\n\r\n"
        % (status, len(body))
    ) + body


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0 so the peer gets a TCP RST (connection reset), not a clean FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
