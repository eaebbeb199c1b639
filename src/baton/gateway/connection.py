"""The client side of the wire: an asyncio Protocol per connection, parsed by httptools (no web framework).

Requests on one connection are answered in order; a pipelined request waits (with reading paused) until the
one before it is done. Reading also pauses when the upstream cannot take a request body as fast as the client
sends it, and the upstream's reading pauses when this client's socket buffer fills (``pause_writing``). Idle
keep-alive connections and clients that are too slow to send their request are closed by the gateway's
periodic sweep (408 when a request was under way).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from baton.gateway.exchange import Exchange
from baton.gateway.responses import PROBLEM_JSON, problem, status_line

if TYPE_CHECKING:
    from baton.gateway.state import GatewayState

_METHODS: dict[bytes, str] = {}
"""Method names as ``str``, decoded once each (the parser only accepts a fixed set of methods)."""


class ClientConnection(asyncio.Protocol):
    """One client connection."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        self.loop = state.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer = "0.0.0.0"
        self.peer_bytes = b"0.0.0.0"
        self.forwarded_line = b"x-forwarded-for: 0.0.0.0\r\n"
        """The ``X-Forwarded-For`` line an upstream gets for a request without a trusted chain (built once)."""
        self.closed = False
        self.current: Exchange | None = None
        """The exchange being answered."""
        self.receiving: Exchange | None = None
        """The exchange whose body the parser is reading (the last one parsed)."""
        self.waiting: deque[Exchange] = deque()
        self.last_activity = self.loop.time()
        self._paused: set[str] = set()
        self._writing_paused = False
        self._in_message = False
        self._broken: str | None = None
        self._url = b""
        self._lines: list[bytes] = []
        """The request's header block as it goes upstream: ``name, b": ", value, b"\r\n"`` per header."""
        self._headers: dict[bytes, bytes] = {}

    # asyncio.Protocol -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the peer and join the gateway's connection set."""
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = peer[0]
            self.peer_bytes = self.peer.encode()
            self.forwarded_line = b"x-forwarded-for: " + self.peer_bytes + b"\r\n"
        self.state.connections.add(self)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; malformed requests get a 400 and the connection closes."""
        self.last_activity = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fatal(501, "protocol upgrades (WebSocket) are not supported by the gateway")
        except httptools.HttpParserError as exc:
            if self.current is not None and self.receiving is None:
                # Garbage *after* a complete request (a lying-low Content-Length, say): answer the request first,
                # then the garbage, then close.
                self._broken = f"malformed request: {exc}"
                self.pause("broken", True)
            else:
                self._fatal(400, f"malformed request: {exc}")
        except Exception:
            self.state.log.exception("gateway error while handling a request")
            self._fatal(500, "the gateway failed while handling the request")

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the exchanges in flight; leave the connection set."""
        self.closed = True
        self.state.connections.discard(self)
        current, self.current = self.current, None
        if current is not None:
            current.client_gone()
        for waiting in self.waiting:
            waiting.client_gone()
        self.waiting.clear()

    def pause_writing(self) -> None:
        """The client reads slower than the upstream sends: pause the upstream."""
        self._writing_paused = True
        upstream = self.current.upstream if self.current is not None else None
        if upstream is not None and upstream.transport is not None:
            upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        """The client caught up: resume the upstream."""
        self._writing_paused = False
        upstream = self.current.upstream if self.current is not None else None
        if upstream is not None and upstream.transport is not None and not upstream.closed:
            upstream.transport.resume_reading()

    # httptools callbacks ----------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._url = b""
        self._lines = []
        self._headers = {}

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self._lines += (name, b": ", value, b"\r\n")
        self._headers[name] = value

    def on_headers_complete(self) -> None:
        parser, headers = self.parser, self._headers
        length = headers.get(b"content-length")
        encoding = headers.get(b"transfer-encoding")
        chunked = encoding is not None and b"chunked" in encoding.lower()
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method)
        if method is None:
            method = _METHODS[raw_method] = raw_method.decode("ascii")
        keep_alive = parser.should_keep_alive()
        # Without a Connection header llhttp keeps an HTTP/1.1 request's connection alive and an older one's
        # not (llhttp_should_keep_alive), so the version is only formatted (a string per call) when that is
        # not enough to tell.
        http11 = (keep_alive and b"connection" not in headers) or parser.get_http_version() == "1.1"
        exchange = Exchange(
            self,
            method,
            self._url,
            self._lines,
            headers,
            http11,
            keep_alive,
            chunked,
            int(length) if length is not None and not chunked else None,  # content_length
        )
        self.receiving = exchange
        if self.current is None:
            self.current = exchange
            exchange.begin()
        else:
            self.waiting.append(exchange)
            self.pause("pipeline", True)

    def on_body(self, body: bytes) -> None:
        if self.receiving is not None:
            self.receiving.on_body(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        receiving, self.receiving = self.receiving, None
        # A bodyless request's exchange has nothing to do at its end (its body was done from the start, and no
        # body pause can be pending): the call is left out.
        if receiving is not None and (receiving.has_body or self._paused):
            receiving.on_complete()

    # used by exchanges --------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send bytes to the client."""
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def pause(self, reason: str, paused: bool) -> None:
        """Pause reading for ``reason`` (or lift that reason); reading resumes when no reason is left."""
        transport = self.transport
        if transport is None or self.closed:
            return
        if paused:
            if not self._paused:
                transport.pause_reading()
            self._paused.add(reason)
        elif reason in self._paused:
            self._paused.discard(reason)
            if not self._paused:
                transport.resume_reading()

    def exchange_finished(self, exchange: Exchange, now: float) -> None:
        """An answer is complete (at loop time ``now``): close, or start the next pipelined request."""
        if exchange is not self.current:
            return
        self.current = None
        self.last_activity = now
        if not exchange.keep_alive or self.state.draining:
            self.close()
            return
        if self.waiting:
            self.current = self.waiting.popleft()
            if not self.waiting:
                self.pause("pipeline", False)
            self.current.begin()
        elif self._broken is not None:
            self._fatal(400, self._broken)

    def close(self) -> None:
        """Close after the buffered answer bytes are written."""
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once."""
        if self.transport is not None:
            self.closed = True
            self.transport.abort()

    def idle(self) -> bool:
        """No request under way."""
        return self.current is None and self.receiving is None

    def sweep(self, now: float) -> None:
        """Close the connection if it idled or stalled for too long (called by the gateway's sweeper)."""
        config = self.state.config
        quiet = now - self.last_activity
        if self._in_message:
            if quiet > config.client_timeout:
                self._fatal(408, "the request took too long to arrive")
        elif self.current is None and quiet > config.keepalive_timeout:
            self.close()

    def _fatal(self, status: int, detail: str) -> None:
        current = self.current
        if current is not None and not current.response_started and current.phase != 3:
            current.keep_alive = False
            current.reject(problem(status, detail, close=True))
            self.close()
            return
        if current is None and self.transport is not None and not self.closed:
            body = problem(status, detail).body()
            head = status_line(status) + b"content-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (
                PROBLEM_JSON,
                len(body),
            )
            with contextlib.suppress(Exception):
                self.transport.write(head + body)
        self.close()
