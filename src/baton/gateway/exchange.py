"""One request's trip through the gateway: policies, proxy, response filtering and caching.

An :class:`Exchange` is created when a request's headers are parsed. It runs the route's policy chain
(synchronously unless a policy needs I/O), then picks a backend (weighted split), an instance (balancer) and a
pooled upstream connection, and relays the answer. Bodies stream both ways with back-pressure; only routes
that validate bodies buffer the request, and only answers that must be filtered, sanitised or cached are
buffered on the way back. Every gateway-made answer is problem+json.

Phases: ``POLICY`` → (``BODY``: waiting for a body to validate) → ``UPSTREAM`` → ``DONE``.
"""

from __future__ import annotations

import time
from binascii import hexlify
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from baton.errors import BatonError, CallTimeout, SecurityError
from baton.gateway.cache import CachedResponse, etag_matches
from baton.gateway.filtering import _JSON_TYPES, ResponseFilter, is_json_type, sanitize_error
from baton.gateway.policies.base import RequestInfo, Verdict
from baton.gateway.pool import PoolKey, UpstreamConnection
from baton.gateway.responses import (
    HOP_BY_HOP,
    LAST_CHUNK,
    PROBLEM_JSON,
    STATUS_LINES,
    HeaderBlock,
    Rejection,
    chunk,
    problem,
    status_line,
)
from baton.gateway.routing import MethodNotAllowed, Route
from baton.gateway.tracing import EdgeSpan, _rng
from baton.resilience.policies import IDEMPOTENT_METHODS
from baton.resilience.retry import backoff

if TYPE_CHECKING:
    from baton.gateway.connection import ClientConnection

POLICY, BODY, UPSTREAM, DONE = 0, 1, 2, 3

REPLAY_LIMIT = 64 * 1024
"""Request bodies up to this size are kept until the answer starts, so a failed try can be retried."""
BUFFER_HIGH_WATER = 256 * 1024
"""Unsent request body bytes at which the client's reading pauses (the upstream connection is not ready)."""

# Headers a client may not set for the upstream: the gateway owns them.
_OWNED = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-correlation-id",
        b"traceparent",
        b"x-baton-consumer",
        b"x-baton-scopes",
        b"x-baton-route",
        b"x-baton-service-token",
        b"expect",
    }
)
_SKIP_UPSTREAM_REQUEST = HOP_BY_HOP | _OWNED
_RESHAPED = _SKIP_UPSTREAM_REQUEST | {b"content-length"}
"""Request headers that may be dropped or rewritten on the way upstream (their absence allows the fast path)."""
_NO_BODY_STATUS = frozenset({204, 304})
_LENGTH_LINES: dict[int, bytes] = {}
"""``content-length: N\r\n`` by ``N`` for the short bodies most answers have, each formatted once."""
_LENGTH_LINES_UP_TO = 4096
"""Lengths remembered in :data:`_LENGTH_LINES` (at most this many lines, ~0.3 MB)."""


_new_object = object.__new__


def _valid_correlation_id(value: bytes | None) -> str | None:
    if value is None or not 0 < len(value) <= 128:
        return None
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() and " " not in text else None


class Exchange(RequestInfo):
    """A request in flight and its answer."""

    __slots__ = (
        "_chunked_resp",
        "_progress",
        "_seen_progress",
        "attempt",
        "body_done",
        "body_size",
        "cache_key",
        "chunked_in",
        "chunks",
        "conn",
        "correlation_line",
        "deadline",
        "ended",
        "expect_continue",
        "frame_chunked",
        "header_lines",
        "held",
        "http11",
        "instance",
        "keep_alive",
        "max_body",
        "phase",
        "replayable",
        "resp_buffer",
        "resp_ctype",
        "resp_filter",
        "resp_lines",
        "resp_size",
        "response_started",
        "route",
        "sent",
        "span",
        "start",
        "state",
        "status",
        "target",
        "target_obj",
        "terminated",
        "token_line",
        "upstream",
        "upstream_started",
        "url",
    )

    route: Route | None
    span: EdgeSpan | None
    cache_key: Any
    upstream: UpstreamConnection | None
    instance: Any
    target_obj: Any
    deadline: float
    """Loop time at which the current try times out (checked by the gateway's ticker)."""
    ended: float
    """Loop time the upstream's answer was complete (0.0 before): the request's end for its duration too, so the
    answer's last steps read the clock once."""
    resp_buffer: list[bytes] | None
    resp_lines: Sequence[bytes]
    """The upstream's header block (pieces) of an answer being buffered; never mutated in place."""
    resp_ctype: bytes | None
    resp_filter: ResponseFilter | None
    """The route's response filter when a buffered answer is JSON (known from its head), else ``None``."""
    token_line: bytes | None
    """``x-baton-service-token: ...`` for a mutual-TLS upstream (:mod:`baton.gateway.servicetokens`)."""
    correlation_line: bytes
    """``x-correlation-id: <id>\\r\\n``, for the upstream and the answer (set with the id)."""
    held: bytes | None
    """A streamed answer's head, held until its first body piece (or the end of the upstream read that brought
    it) so that head and body go to the client in one write, one system call."""

    def __init__(
        self,
        conn: ClientConnection,
        method: str,
        url: bytes,
        header_lines: list[bytes],
        headers: dict[bytes, bytes],
        http11: bool,
        keep_alive: bool,
        chunked: bool,
        content_length: int | None,
    ) -> None:
        qmark = url.find(b"?")
        self.path = (url if qmark < 0 else url[:qmark]).decode("latin-1")
        self.method = method
        self.headers = headers
        self.now = time.time()
        has_body = self.has_body = chunked or (content_length is not None and content_length != 0)
        self.content_length = content_length
        self.conn = conn
        state = self.state = conn.state
        self.url = self.target = url
        self.header_lines = header_lines
        """The header block as received (names lower-cased): ``name, b": ", value, b"\r\n"`` per header."""
        self.http11 = http11
        self.keep_alive = keep_alive
        self.chunked_in = chunked
        self.start = conn.last_activity  # the loop time the headers' last bytes arrived (set just before)
        self.body_done = not has_body
        self.chunks: list[bytes] = []
        self.max_body = state.config.max_body
        if has_body:
            self.expect_continue = headers.get(b"expect", b"").lower() == b"100-continue"
            self.replayable = content_length is None or content_length <= REPLAY_LIMIT
        else:
            self.expect_continue = False
            self.replayable = True
        # Every other slot starts here (RequestInfo's included): phases, the answer, the upstream side.
        self.client_ip = self.route_name = self.correlation_id = ""
        self.body = self.principal = self.response_headers = None
        self.phase = POLICY
        self.route = self.span = self.cache_key = self.upstream = self.instance = self.target_obj = None
        self.status = self.body_size = self.sent = self.attempt = self.resp_size = self._progress = 0
        self._seen_progress = -1
        self.response_started = self.frame_chunked = self.terminated = self._chunked_resp = False
        self.upstream_started = self.deadline = self.ended = 0.0
        self.resp_buffer = self.resp_ctype = self.resp_filter = self.token_line = self.held = None
        self.resp_lines = ()
        self.correlation_line = b"x-correlation-id: \r\n"

    # request side ---------------------------------------------------------------------------------------

    def begin(self) -> None:
        """Headers are in: route, run the policy chain, then proxy or answer."""
        state, headers = self.state, self.headers
        forwarded = headers.get(b"x-forwarded-for")
        peer = self.conn.peer
        self.client_ip = peer if forwarded is None else state.client_ip(peer, forwarded)
        given = headers.get(b"x-correlation-id")
        correlation_id = given is not None and _valid_correlation_id(given)
        if not correlation_id:
            state._id_counter += 1  # GatewayState.new_id, inline
            counter = state._id_counter
            # f"{prefix}{counter:08x}", cheapest as the counter's four bytes in hex (while it fits in them).
            tail = counter.to_bytes(4, "big").hex() if counter <= 0xFFFFFFFF else "%08x" % counter  # noqa: UP031
            correlation_id = state._id_prefix + tail
        self.correlation_id = correlation_id
        self.correlation_line = b"x-correlation-id: %b\r\n" % correlation_id.encode()
        path = self.path
        if path in state.internal_endpoints and self.method in ("GET", "HEAD"):
            status, ctype, body = state.internal_endpoints[path]()
            self.respond(status, body, content_type=ctype)
            return
        tracer = state.tracer
        incoming = headers.get(b"traceparent")
        if incoming is None and tracer.ids_only:
            # EdgeTracer.start for a request without trace context: EdgeSpan.new_trace, inline (no call).
            self.span = span = _new_object(EdgeSpan)
            ids = hexlify(_rng.getrandbits(192).to_bytes(24, "little"))
            span.traceparent = b"-".join((b"00", ids[:32], ids[32:], b"01"))
            span.parent_id = span.otel = None
        else:
            self.span = tracer.start(incoming, self.method)
        if "/." in path and any(seg in (".", "..") for seg in path.split("/")):
            self.reject(problem(400, "dot segments are not allowed in paths"))
            return
        try:
            route = state.table.match(self.method, path, headers)
        except MethodNotAllowed as exc:
            allow = ", ".join(sorted(exc.allowed)).encode()
            self.reject(Rejection(405, "Method Not Allowed", headers=((b"allow", allow),)))
            return
        if route is None:
            self.reject(state.no_route)
            return
        self.route = route
        self.route_name = route.config.name
        self.max_body = route.max_body
        verdict = route.chain(self) if self.has_body else route.bodyless_chain(self)
        if verdict is None:
            if route.cache is None and not self.expect_continue and not (route.buffer_body and self.has_body):
                # What _admitted comes to without a cache, a body to check or a 100 Continue; the try starts at
                # the loop time read when this request's bytes arrived (or it became current): no clock reading.
                self._dispatch(self.conn.last_activity)
            else:
                self._admitted()
        elif isinstance(verdict, Rejection):
            self.reject(verdict)
        else:
            state.spawn(self._settle(verdict))

    async def _settle(self, pending: Awaitable[Verdict]) -> None:
        try:
            verdict = await pending
        except Exception:
            self.state.log.exception("policy failed")
            verdict = problem(500, "a gateway policy failed")
        if self.phase == DONE:
            return
        if verdict is None:
            self._admitted()
        else:
            self.reject(verdict)

    def _admitted(self) -> None:
        route = self.route
        assert route is not None
        if self.expect_continue and not self.body_done:
            self.conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        cache = route.cache
        if cache is not None and self.method == "GET":
            self.cache_key = key = cache.key(self, self.url)
            entry = cache.get(key)
            if entry is not None:
                self._answer_cached(entry, hit=True)
                return
        if route.buffer_body and self.has_body:
            if not self.body_done:
                self.phase = BODY
                return
            self._check_body()
            return
        self._dispatch()

    def _check_body(self) -> None:
        assert self.route is not None
        self.body = b"".join(self.chunks)
        verdict = self.route.validator.check_body(self)
        if verdict is not None:
            self.reject(verdict)
            return
        self._dispatch()

    def on_body(self, data: bytes) -> None:
        """A piece of the request body arrived."""
        if self.phase == DONE:
            return
        self.body_size += len(data)
        if self.body_size > self.max_body:
            self._body_too_large()
            return
        self.chunks.append(data)
        if self.replayable and self.body_size > REPLAY_LIMIT:
            self.replayable = False
        upstream = self.upstream
        if upstream is not None and self.phase == UPSTREAM:
            self._pump_body(upstream)
        elif self.phase != BODY and self.body_size > BUFFER_HIGH_WATER and self._unsent_bytes() > BUFFER_HIGH_WATER:
            self.conn.pause("buffer", True)

    def on_complete(self) -> None:
        """The request body (if any) is complete."""
        if self.phase == DONE:
            return
        self.body_done = True
        if self.conn._paused:
            self.conn.pause("buffer", False)
        if self.phase == BODY:
            self._check_body()
        elif self.has_body and self.phase == UPSTREAM and self.upstream is not None:
            self._pump_body(self.upstream)

    def _unsent_bytes(self) -> int:
        return sum(len(c) for c in self.chunks[self.sent :])

    def _pump_body(self, upstream: UpstreamConnection) -> None:
        chunks = self.chunks
        if self.sent < len(chunks):
            pending = chunks[self.sent :]
            data = b"".join(chunk(c) for c in pending) if self.frame_chunked else b"".join(pending)
            upstream.write(data)
            if self.replayable:
                self.sent = len(chunks)
            else:
                chunks.clear()
                self.sent = 0
            # Everything buffered is now the upstream socket's (whose own back-pressure pauses us if needed).
            self.conn.pause("buffer", False)
        if self.body_done and self.frame_chunked and not self.terminated:
            upstream.write(LAST_CHUNK)
            self.terminated = True

    def _body_too_large(self) -> None:
        too_large = problem(413, f"request body larger than {self.max_body} bytes", close=True)
        if self.upstream is not None:
            self.upstream.detach()
            self.upstream = None
        if not self.response_started:
            self.reject(too_large)
        else:
            self.abort()

    # upstream side --------------------------------------------------------------------------------------

    def _dispatch(self, now: float | None = None) -> None:
        """Start a try: pick a backend, an instance and a connection (``now``: the loop time, if just read)."""
        route = self.route
        assert route is not None
        state = self.state
        targets = route.targets
        target = targets[route.picker.pick()] if len(targets) > 1 else targets[0]
        candidates = target.candidates  # Upstreams.pick, inline
        instance = target.balancer.pick(candidates) if candidates else None
        if instance is None:
            self.reject(state.no_instance)
            return
        self.target_obj, self.instance = target, instance
        self.phase = UPSTREAM
        if self.attempt == 0:
            budget = route.budget
            if budget is not None:
                budget.on_request()
            self.target = route.upstream_path(self.url) if route.config.strip_prefix else self.url
        self.attempt += 1
        if now is None:
            now = self.conn.loop.time()
        self.upstream_started = now
        self.deadline = now + route.config.timeout
        state.timed.add(self)
        key = (instance.scheme, instance.host, instance.port, instance.service)
        tokens = state.tokens
        if tokens is not None:
            # Mutual-TLS upstreams (``https`` under ``baton up``) want a service token; plain ones never see it.
            self.token_line = tokens.line(instance.service) if instance.scheme == "https" else None
            if self.token_line is None and instance.scheme == "https":
                state.spawn(self._token_first(key, route.config.connect_timeout))
                return
        upstream = state.pool.acquire(key)
        if upstream is not None:
            self._send(upstream)
        else:
            state.spawn(self._connect(key, route.config.connect_timeout))

    async def _token_first(self, key: PoolKey, timeout: float) -> None:
        tokens = self.state.tokens
        assert tokens is not None
        try:
            line = await tokens.get(key[3])
        except SecurityError:
            if self.phase == UPSTREAM and self.upstream is None:
                assert self.route is not None
                self.state.metrics.upstream_error(self.route.name, "token")
                self.reject(problem(503, "the gateway cannot obtain a service token for the upstream"))
            return
        if self.phase != UPSTREAM or self.upstream is not None:
            return
        self.token_line = line
        upstream = self.state.pool.acquire(key)
        if upstream is not None:
            self._send(upstream)
        else:
            await self._connect(key, timeout)

    async def _connect(self, key: PoolKey, timeout: float) -> None:
        try:
            upstream = await self.state.pool.connect(key, timeout=timeout)
        except BatonError as exc:
            if self.phase == UPSTREAM and self.upstream is None:
                self._failed_try(exc, "connect")
            return
        if self.phase != UPSTREAM or self.upstream is not None:
            self.state.pool.release(upstream)  # the exchange gave up meanwhile; the connection is still good
            return
        self._send(upstream)

    def _send(self, upstream: UpstreamConnection) -> None:
        self.upstream = upstream
        self.terminated = False
        head = self._upstream_head()
        if self.body_done and self.replayable and self.chunks:
            body = b"".join(self.chunks)
            self.sent = len(self.chunks)
            upstream.send(self, head + body, no_body=self.method == "HEAD")
        else:
            upstream.send(self, head, no_body=self.method == "HEAD")
            if self.has_body:
                self._pump_body(upstream)

    def _upstream_head(self) -> bytes:
        state, headers, lines = self.state, self.headers, self.header_lines
        parts = [self.method.encode(), b" ", self.target, b" HTTP/1.1\r\n"]
        whole_body = self.body_done and self.replayable
        self.frame_chunked = self.has_body and not whole_body and self.chunked_in
        if _RESHAPED.isdisjoint(headers):
            parts += lines  # the common case: every header the client sent goes on as received
        else:
            skip = _SKIP_UPSTREAM_REQUEST
            connection_tokens = headers.get(b"connection")
            if connection_tokens and connection_tokens.lower() not in (b"keep-alive", b"close"):
                skip = skip | {t.strip().lower() for t in connection_tokens.split(b",")}
            for index in range(0, len(lines), 4):
                name = lines[index]
                if name in skip or (whole_body and name == b"content-length"):
                    continue
                parts += (name, b": ", lines[index + 2], b"\r\n")
        instance = self.instance
        if b"host" not in headers and instance is not None:
            parts += (b"host: ", f"{instance.host}:{instance.port}".encode(), b"\r\n")
        if self.has_body:
            if whole_body:
                parts += (b"content-length: ", b"%d" % self.body_size, b"\r\n")
            elif self.frame_chunked:
                parts.append(b"transfer-encoding: chunked\r\n")
        conn = self.conn
        # From a trusted proxy the chain is extended; anyone else's claim is dropped, never passed on. (The client
        # address differs from the peer's only when a trusted X-Forwarded-For named it: the header is looked up
        # then only, and the peer's own line is built once per connection.)
        if self.client_ip == conn.peer:
            parts.append(conn.forwarded_line)
        else:
            forwarded = headers.get(b"x-forwarded-for")
            peer = conn.peer_bytes if forwarded is None else forwarded + b", " + conn.peer_bytes
            parts += (b"x-forwarded-for: ", peer, b"\r\n")
        if instance is None or instance.scheme != state.scheme_name:
            # Only when it tells the upstream something: without it, a server takes its own connection's scheme
            # (uvicorn's proxy headers, say), which is the client's whenever the two schemes are the same.
            parts += (b"x-forwarded-proto: ", state.scheme, b"\r\n")
        parts.append(self.correlation_line)
        span = self.span
        if span is not None:
            parts += (b"traceparent: ", span.traceparent, b"\r\n")
        principal = self.principal
        if principal is not None:
            parts.append(principal.consumer_line)
        if self.token_line is not None:
            parts.append(self.token_line)
        parts.append(b"\r\n")
        return b"".join(parts)

    def upstream_head(self, status: int, lines: list[bytes], named: dict[bytes, bytes], keep_alive: bool) -> None:
        """The upstream's answer headers arrived: retry, buffer or start streaming to the client."""
        if self.phase != UPSTREAM:
            return
        self._progress += 1
        route = self.route
        assert route is not None
        retry = route.config.retry
        if retry is not None and status in retry.retryable_statuses and self._may_retry():
            upstream, self.upstream = self.upstream, None
            if upstream is not None:
                upstream.detach()
            self.state.metrics.upstream_error(route.name, f"status_{status}")
            self._retry_later()
            return
        ctype = named.get(b"content-type")
        response_filter = route.response_filter
        if response_filter is not None:
            json = _JSON_TYPES.get(ctype)  # type: ignore[arg-type]  # is_json_type's memo, inline (None: not in it)
            if not (is_json_type(ctype) if json is None else json):
                response_filter = None
        self.resp_filter = response_filter  # (set on every try: a retried one may answer another type)
        if status >= 500 or self.resp_filter is not None or (self.cache_key is not None and status == 200):
            self.status = status
            self.resp_lines = lines
            self.resp_ctype = ctype
            self.resp_buffer = []
            return
        self._release_replay()
        self.status = status
        length = named.get(b"content-length")  # (a buffered answer's is recomputed: looked up only here)
        no_body = self.method == "HEAD" or status in _NO_BODY_STATUS
        parts = [status_line(status)]
        parts += lines  # the upstream's header block as it came, less the framing headers (``named``)
        if ctype is not None:
            parts += (b"content-type: ", ctype, b"\r\n")
        if length is not None:
            parts += (b"content-length: ", length, b"\r\n")
        elif not no_body:
            if self.http11:
                parts.append(b"transfer-encoding: chunked\r\n")
                self._chunked_resp = True
            else:
                self.keep_alive = False  # HTTP/1.0 client: the end of the body is the end of the connection
        self._common_headers(parts)
        self.response_started = True
        self.held = b"".join(parts)  # written with the first body piece, or by upstream_read / upstream_done

    def upstream_body(self, data: bytes) -> None:
        """A piece of the answer body: stream it, or buffer it when the answer must be inspected."""
        self._progress += 1
        buffer = self.resp_buffer
        if buffer is not None:
            self.resp_size += len(data)
            if self.resp_size > self.state.config.max_response_buffer:
                if self.upstream is not None:
                    self.upstream.detach()
                    self.upstream = None
                self.resp_buffer = None
                self.reject(problem(502, "the upstream's answer is too large to filter"))
                return
            buffer.append(data)
            return
        if self.phase != UPSTREAM:
            return
        if self._chunked_resp:
            data = chunk(data)
        held = self.held
        if held is not None:
            self.held = None
            data = held + data
        self.conn.write(data)

    def upstream_read(self) -> None:
        """The upstream's bytes of one read are handled: send the head if it is still held (no body yet)."""
        held = self.held
        if held is not None:
            self.held = None
            if self.phase == UPSTREAM:
                self.conn.write(held)

    def upstream_done(self) -> None:
        """The upstream's answer is complete."""
        if self.phase != UPSTREAM:
            return
        self.upstream = None
        target, instance = self.target_obj, self.instance
        self.ended = now = self.conn.loop.time()
        if target is not None and instance is not None:  # _report, inline
            target.balancer.done(instance, latency=now - self.upstream_started, failed=self.status >= 500)
        if self.resp_buffer is not None:
            self._answer_buffered()
            return
        held = self.held
        if held is not None:  # an answer without a body (or the head and the end in one read): one write
            self.held = None
            self.conn.write(held + LAST_CHUNK if self._chunked_resp else held)
        elif self._chunked_resp:
            self.conn.write(LAST_CHUNK)
        self._finish()

    def upstream_failed(self, error: Exception) -> None:
        """The upstream connection broke before the answer was complete."""
        if self.phase != UPSTREAM:
            return
        self.upstream = None
        self._failed_try(error, "reset")

    def upstream_paused(self, paused: bool) -> None:
        """Back-pressure from the upstream socket: pause or resume reading the client."""
        self.conn.pause("upstream", paused)

    def _failed_try(self, error: Exception, kind: str) -> None:
        route = self.route
        assert route is not None
        self.state.metrics.upstream_error(route.name, kind)
        self._report(failed=True)
        if self.response_started:
            self.abort()  # half an answer is out: the only honest signal left is closing the connection
            return
        if self._may_retry():
            self.resp_buffer = None
            self._retry_later()
            return
        self._cancel_timer()
        if isinstance(error, CallTimeout):
            self.reject(problem(504, "the upstream did not answer in time"))
        else:
            self.reject(problem(502, "the upstream is unavailable"))

    def _may_retry(self) -> bool:
        route = self.route
        assert route is not None
        retry = route.config.retry
        if retry is None or self.attempt >= retry.max_attempts or self.response_started:
            return False
        if not (self.body_done and self.replayable):
            return False
        if self.method not in IDEMPOTENT_METHODS and b"idempotency-key" not in self.headers:
            return False
        budget = route.budget
        return budget is None or bool(budget.try_withdraw())

    def _retry_later(self) -> None:
        route = self.route
        assert route is not None
        assert route.config.retry is not None
        self._cancel_timer()
        self.phase = POLICY  # between tries: late upstream events are ignored
        delay = backoff(route.config.retry, self.attempt)
        self.conn.loop.call_later(delay, self._retry_now)

    def _retry_now(self) -> None:
        if self.phase == POLICY and not self.conn.closed:
            self._dispatch()

    def _report(self, *, failed: bool) -> None:
        target, instance = self.target_obj, self.instance
        if target is not None and instance is not None:
            target.balancer.done(instance, latency=self.conn.loop.time() - self.upstream_started, failed=failed)

    def _release_replay(self) -> None:
        if self.body_done:
            self.chunks = []
            self.sent = 0

    # timeouts -------------------------------------------------------------------------------------------

    def _arm_timer(self, seconds: float) -> None:
        self.deadline = self.conn.loop.time() + seconds
        self.state.timed.add(self)

    def _cancel_timer(self) -> None:
        self.state.timed.discard(self)

    def on_timeout(self) -> None:
        """The current try's deadline passed (called by the gateway's ticker)."""
        self.state.timed.discard(self)
        if self.phase != UPSTREAM:
            return
        route = self.route
        assert route is not None
        if self.response_started and self._progress != self._seen_progress:
            self._seen_progress = self._progress  # still streaming: only a silent upstream times out
            self._arm_timer(route.config.timeout)
            return
        self.state.metrics.upstream_error(route.name, "timeout")
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.detach()
        self._report(failed=True)
        if self.response_started:
            self.abort()
        else:
            self.resp_buffer = None
            self.reject(problem(504, f"the upstream did not answer within {route.config.timeout:g}s"))

    # answers ----------------------------------------------------------------------------------------------

    def _common_headers(self, parts: list[bytes]) -> None:
        """The headers every answer carries (correlation id, policies' headers, connection), then the blank line."""
        parts.append(self.correlation_line)
        extra = self.response_headers
        if extra:
            if type(extra) is HeaderBlock:
                parts.append(extra.block)
            else:
                for name, value in extra:
                    parts += (name, b": ", value, b"\r\n")
        if not self.body_done:
            self.keep_alive = False  # the rest of the body is still on the wire: the connection cannot be reused
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        elif not self.http11:
            parts.append(b"connection: keep-alive\r\n")
        parts.append(b"\r\n")

    def respond(
        self,
        status: int,
        body: bytes,
        *,
        content_type: bytes | None = None,
        headers: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]] = (),
        lines: Sequence[bytes] | None = None,
    ) -> None:
        """Answer the client with a complete body (gateway-made or buffered answers).

        ``lines``: more headers as header-block pieces (``name, b": ", value, b"\r\n"`` each), after ``headers``.
        """
        if self.phase == DONE:
            return
        self.status = status  # (_finish, below, takes the exchange off the ticker's list)
        parts = [STATUS_LINES.get(status) or status_line(status)]
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        if lines:
            parts += lines
        if content_type:
            parts += (b"content-type: ", content_type, b"\r\n")
        no_body = status in _NO_BODY_STATUS or status < 200
        if not no_body:
            size = len(body)
            length_line = _LENGTH_LINES.get(size)
            if length_line is None:
                length_line = b"content-length: %d\r\n" % size
                if size <= _LENGTH_LINES_UP_TO:
                    _LENGTH_LINES[size] = length_line
            parts.append(length_line)
        self._common_headers(parts)
        if not no_body and self.method != "HEAD":
            parts.append(body)
        self.response_started = True
        conn = self.conn
        if conn.transport is not None and not conn.closed:  # ClientConnection.write, inline
            conn.transport.write(b"".join(parts))
        self._finish()

    def reject(self, rejection: Rejection) -> None:
        """Answer with a problem+json document."""
        if rejection.close:
            self.keep_alive = False
        body = rejection.body(instance=self.path, correlation_id=self.correlation_id)
        self.respond(rejection.status, body, content_type=PROBLEM_JSON, headers=rejection.headers)

    def _answer_buffered(self) -> None:
        route = self.route
        assert route is not None
        assert self.resp_buffer is not None
        body = b"".join(self.resp_buffer)
        self.resp_buffer = None
        status, lines, ctype = self.status, self.resp_lines, self.resp_ctype
        response_filter = route.response_filter
        if status >= 500:
            names = response_filter.names if response_filter is not None else frozenset()
            ctype, body = sanitize_error(status, ctype, body, self.correlation_id, names)
        elif self.resp_filter is not None:
            body = self.resp_filter.strip(body)
        cache = route.cache
        if cache is not None and self.cache_key is not None and status == 200:
            pairs = [(lines[i], lines[i + 2]) for i in range(0, len(lines), 4)]
            entry = cache.put(self.cache_key, status, [*pairs, (b"content-type", ctype or b"")], body)
            if entry is not None:
                self._answer_cached(entry, hit=False)
                return
        self.respond(status, body, content_type=ctype, lines=lines)  # lines: the framing headers are apart

    def _answer_cached(self, entry: CachedResponse, *, hit: bool) -> None:
        headers = [(n, v) for n, v in entry.headers if n != b"content-type"]
        headers.append((b"etag", entry.etag))
        headers.append((b"x-cache", b"HIT" if hit else b"MISS"))
        if hit:
            headers.append((b"age", b"%d" % max(0, int(self.conn.loop.time() - entry.stored_at))))
        ctype = next((v for n, v in entry.headers if n == b"content-type"), None) or None
        if etag_matches(self.headers.get(b"if-none-match"), entry.etag):
            self.respond(304, b"", headers=headers)
            return
        self.respond(entry.status, entry.body, content_type=ctype, headers=headers)

    def abort(self) -> None:
        """Give up on the client connection (an answer cannot be completed honestly)."""
        self.keep_alive = False
        if self.upstream is not None:
            self.upstream.detach()
            self.upstream = None
        if self.phase != DONE:
            self._finish()
        self.conn.abort()

    def client_gone(self) -> None:
        """The client disconnected: stop the upstream side and record the request (status 499)."""
        if self.phase == DONE:
            return
        if self.upstream is not None:
            self.upstream.detach()
            self.upstream = None
        if not self.response_started:
            self.status = 499
        self._finish()

    def _finish(self) -> None:
        state = self.state
        state.timed.discard(self)
        self.phase = DONE
        upstream = self.upstream
        if upstream is not None:  # answered without the upstream's answer (408, 413, 502...): never reuse it
            self.upstream = None
            upstream.detach()
        conn = self.conn
        now = self.ended or conn.loop.time()
        span = self.span
        try:
            if span is None or span.otel is None:
                # GatewayState.record, inline when no OpenTelemetry span is to end: queue the exchange for the
                # loop iteration's telemetry flush.
                state._finished.append((self, now - self.start))
                if not state._flush_scheduled:
                    state._flush_scheduled = True
                    state.loop.call_soon(state.flush_records)
            else:
                state.record(self, now - self.start)
        except Exception:  # telemetry must never break an answer
            state.log.exception("recording a request failed")
        conn.exchange_finished(self, now)
