"""Upstream connections: raw asyncio connections with keep-alive, pooled per instance, parsed by httptools.

An :class:`UpstreamConnection` serves one exchange at a time and hands every parser event straight to it
(:class:`UpstreamHandler`), so a response streams to the client chunk by chunk without a coroutine in
between. Back-pressure runs both ways: when the upstream's socket buffer fills while a request body
streams, the client's reading pauses; when the client's buffer fills, the upstream's reading pauses.
Idle connections are kept per ``(scheme, host, port, service)``, most recently used first, and closed after
``idle_timeout`` (shorter than common servers' keep-alive, so the pool rarely hands out a half-closed socket).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Protocol, cast

import httptools

from baton.errors import CallTimeout, UpstreamUnavailable
from baton.gateway.responses import FRAMING

PoolKey = tuple[str, str, int, str]
"""``(scheme, host, port, service)``: the service is the identity a mutual-TLS connection was checked against,
so a connection opened for one service is never handed to a request for another on the same address."""


class UpstreamHandler(Protocol):
    """What an upstream connection reports to the exchange it serves."""

    def upstream_head(self, status: int, lines: list[bytes], named: dict[bytes, bytes], keep_alive: bool) -> None:
        """The answer's status line and headers arrived.

        ``lines`` is the header block as pieces (``name, b": ", value, b"\r\n"`` per header, names lower-case,
        in order) without the headers in :data:`~baton.gateway.responses.FRAMING` (hop-by-hop ones,
        ``Content-Length`` and ``Content-Type``): those are in ``named``, each lower-case name to its last value.
        """

    held: bytes | None
    """Answer bytes the handler holds back for its next write (:meth:`upstream_read` sends them)."""

    def upstream_body(self, data: bytes) -> None:
        """A piece of the (de-chunked) answer body arrived."""

    def upstream_done(self) -> None:
        """The answer is complete."""

    def upstream_read(self) -> None:
        """Every parser event of one read from the upstream was reported: send what is held."""

    def upstream_failed(self, error: Exception) -> None:
        """The connection broke or spoke garbage before the answer completed."""

    def upstream_paused(self, paused: bool) -> None:
        """The upstream's write buffer filled (``True``) or drained (``False``): stop or resume the client."""


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to an upstream instance."""

    def __init__(self, pool: UpstreamPool, key: PoolKey) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.handler: UpstreamHandler | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lines: list[bytes] = []
        """The answer's header block so far: ``name, b": ", value, b"\r\n"`` per header (names lower-case),
        except the framing headers."""
        self.named: dict[bytes, bytes] = {}
        """The answer's framing headers so far (:data:`~baton.gateway.responses.FRAMING`), by lower-case name."""
        self.idle_since = 0.0
        self.requests = 0
        """Requests sent on this connection so far (> 1 means it was reused from the pool)."""
        self.no_body = False
        """The request was HEAD: the answer has headers only, whatever its Content-Length says."""
        self._informational = False
        self.closed = False

    # asyncio.Protocol -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; any protocol error fails the exchange."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamUnavailable(f"upstream sent an invalid answer: {exc}"))
            return
        handler = self.handler
        if handler is not None and handler.held is not None:
            handler.upstream_read()  # a head whose body is not in this read goes out now, not with the body

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail the exchange if it was still waiting for (part of) its answer."""
        self.closed = True
        self.pool.forget(self)
        handler, self.handler = self.handler, None
        if handler is not None:
            handler.upstream_failed(UpstreamUnavailable(f"upstream closed the connection: {exc or 'EOF'}"))

    def pause_writing(self) -> None:
        """The upstream is not reading fast enough: stop reading the client."""
        if self.handler is not None:
            self.handler.upstream_paused(True)

    def resume_writing(self) -> None:
        """The upstream caught up."""
        if self.handler is not None:
            self.handler.upstream_paused(False)

    # httptools callbacks ----------------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in FRAMING:
            self.named[name] = value
        else:
            self.lines += (name, b": ", value, b"\r\n")

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        lines, named = self.lines, self.named
        self.lines, self.named = [], {}
        if 100 <= status < 200 and status != 101:
            self._informational = True  # 100 Continue / 103 Early Hints: wait for the real answer
            return
        handler = self.handler
        if handler is None:
            return
        handler.upstream_head(status, lines, named, self.parser.should_keep_alive())
        if self.no_body and self.handler is handler:
            # llhttp cannot be told "this answered a HEAD": finish here and never reuse the connection.
            self.handler = None
            handler.upstream_done()
            self.close()

    def on_body(self, body: bytes) -> None:
        if self.handler is not None:
            self.handler.upstream_body(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        handler, self.handler = self.handler, None
        keep = self.parser.should_keep_alive()
        if handler is not None:
            handler.upstream_done()
            if keep and not self.closed:
                self.pool.release(self)
                return
        self.close()

    # use ----------------------------------------------------------------------------------------------------

    def send(self, handler: UpstreamHandler, data: bytes, *, no_body: bool = False) -> None:
        """Start an exchange on this connection with the request head (and whatever body is ready)."""
        self.handler = handler
        self.no_body = no_body
        self.requests += 1
        assert self.transport is not None
        self.transport.write(data)

    def write(self, data: bytes) -> None:
        """More request body."""
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def detach(self) -> None:
        """Stop reporting to the current exchange and close (it gave up: timeout, client gone)."""
        self.handler = None
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self.closed:
            self.closed = True
            self.pool.forget(self)
            if self.transport is not None:
                self.transport.close()

    def _fail(self, error: Exception) -> None:
        handler, self.handler = self.handler, None
        self.close()
        if handler is not None:
            handler.upstream_failed(error)


class UpstreamPool:
    """Idle keep-alive connections per instance, plus connection establishment."""

    def __init__(
        self,
        *,
        idle_timeout: float = 4.0,
        max_idle_per_key: int = 512,
        ssl_context: ssl.SSLContext | None = None,
        tls_for: Callable[[str], ssl.SSLContext] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        Args:
            ssl_context: for ``https`` upstreams (default: the system's trust store, host names checked).
            tls_for: ``service -> context`` taking precedence for ``https`` upstreams: the instance's mutual-TLS
                client context expecting that service's SPIFFE ID (:mod:`baton.security.wiring`).
        """
        self.idle_timeout = idle_timeout
        self.max_idle_per_key = max_idle_per_key
        self.ssl_context = ssl_context
        self.tls_for = tls_for
        self._idle: dict[PoolKey, list[UpstreamConnection]] = {}
        self._clock = clock
        self.opened = 0
        """Connections opened so far (a reused pool keeps this low)."""

    def acquire(self, key: PoolKey) -> UpstreamConnection | None:
        """An idle connection to ``key``, if one is pooled."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    async def connect(self, key: PoolKey, *, timeout: float) -> UpstreamConnection:
        """Open a new connection to ``key`` (its service is the identity mutual TLS expects).

        Raises:
            UpstreamUnavailable: the connection was refused or failed (a peer with the wrong identity, too).
            CallTimeout: it took longer than ``timeout`` seconds.
        """
        scheme, host, port, service = key
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self.tls_for is not None and service:
                context = self.tls_for(service)
            else:
                context = self.ssl_context or ssl.create_default_context()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(lambda: UpstreamConnection(self, key), host, port, ssl=context)
        except TimeoutError as exc:
            raise CallTimeout(f"connecting to {host}:{port} took longer than {timeout}s") from exc
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamUnavailable(f"cannot connect to {host}:{port}: {exc}") from exc
        self.opened += 1
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Return a connection whose exchange finished cleanly."""
        idle = self._idle.get(conn.key)
        if idle is None:  # (not setdefault: its default list would be built, and dropped, on every release)
            idle = self._idle[conn.key] = []
        if len(idle) >= self.max_idle_per_key:
            conn.close()
            return
        conn.idle_since = self._clock()
        idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        """Drop a closed connection from the idle lists."""
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def idle_count(self) -> int:
        """Connections waiting in the pool."""
        return sum(len(v) for v in self._idle.values())

    def sweep(self) -> None:
        """Close connections idle for longer than ``idle_timeout``."""
        limit = self._clock() - self.idle_timeout
        for idle in self._idle.values():
            stale = [c for c in idle if c.idle_since < limit]
            for conn in stale:
                conn.close()

    def close_all(self) -> None:
        """Close every idle connection."""
        for idle in list(self._idle.values()):
            for conn in list(idle):
                conn.close()
        self._idle.clear()
