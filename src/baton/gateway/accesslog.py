"""JSON access logs: one object per request, buffered and flushed every 100 ms (nginx's ``buffer=``/``flush=``).

A ``write`` per request would cost a system call each; batching keeps the log on the hot path at one
formatted line. Lines carry the fields every Baton log line has (time, level, service, correlation and
trace ids) plus the request's route, consumer, status and duration.

:meth:`AccessLog.request` fills a fixed line template instead of building a dict for ``orjson.dumps``: the
constant keys are written once, and only values a client controls (path, correlation id) or names that repeat
(route, consumer, upstream instance, method, client address) go through a JSON string encoder, the latter
memoised.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterable
from typing import Any, BinaryIO

import orjson

_REQUEST_LINE = (
    b'{"time":"%sZ","level":"info","logger":"baton.gateway.access","service":"gateway","event":"request",'
    b'"method":%s,"path":%s,"status":%d,"duration_ms":%.3f,"route":%s,"consumer":%s,"client_ip":%s,'
    b'"upstream":%s,"attempts":%d,"correlation_id":%s,"trace_id":"%s","span_id":"%s"}\n'
)
_UNTRACED_LINE = _REQUEST_LINE.replace(b'"trace_id":"%s","span_id":"%s"', b'"trace_id":null,"span_id":null')
_MEMO_LIMIT = 4096


class AccessLog:
    """A buffered writer of JSON lines."""

    def __init__(
        self, stream: BinaryIO | None = None, *, flush_interval: float = 0.1, max_buffer: int = 64 * 1024
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self._lines: list[bytes] = []
        self._size = 0
        self._second = -1
        self._stamp = ""
        self._stamp_bytes = b""
        self._names: dict[str | None, bytes] = {None: b"null"}
        self._task: asyncio.Task[None] | None = None

    def timestamp(self, now: float) -> str:
        """ISO-8601 UTC time with milliseconds, formatted once per second."""
        second = int(now)
        if second != self._second:
            self._set_second(second)
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def _set_second(self, second: int) -> None:
        self._second = second
        self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self._stamp_bytes = self._stamp.encode()

    def _name(self, value: str | None) -> bytes:
        """``value`` as a JSON string (memoised: route, consumer, instance names, methods and addresses repeat)."""
        names = self._names
        encoded = names.get(value)
        if encoded is None:
            encoded = orjson.dumps(value)
            if len(names) >= _MEMO_LIMIT:
                names.clear()
                names[None] = b"null"
            names[value] = encoded
        return encoded

    def write(self, record: dict[str, Any]) -> None:
        """Queue one record (flushed within ``flush_interval`` or when the buffer fills)."""
        self._append(orjson.dumps(record) + b"\n")

    def request(
        self,
        now: float,
        method: str,
        path: str,
        status: int,
        seconds: float,
        route: str,
        consumer: str | None,
        client_ip: str,
        upstream: str | None,
        attempts: int,
        correlation_id: str,
        trace_id: str | None,
        span_id: str | None,
    ) -> None:
        """Queue the access line of one request (every string JSON-encoded; the repeating ones memoised)."""
        second = int(now)
        if second != self._second:
            self._set_second(second)
        names = self._names
        # Memo hits inline (a method call each would cost more than the lookup); misses go through _name.
        values = [
            b"%s.%03d" % (self._stamp_bytes, int((now - second) * 1000)),
            names.get(method) or self._name(method),
            orjson.dumps(path),
            status,
            seconds * 1000,
            names.get(route) or self._name(route),
            names.get(consumer) or self._name(consumer),
            names.get(client_ip) or self._name(client_ip),
            names.get(upstream) or self._name(upstream),
            attempts,
            orjson.dumps(correlation_id),
        ]
        if trace_id is not None and span_id is not None:
            values += (trace_id.encode(), span_id.encode())
            line = _REQUEST_LINE % tuple(values)
        else:
            line = _UNTRACED_LINE % tuple(values)
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.max_buffer:
            self.flush()

    def exchanges(self, finished: Iterable[tuple[Any, float]], now: float) -> None:
        """Queue the access lines of finished exchanges (``(exchange, seconds)`` pairs), all stamped ``now``.

        The same lines as :meth:`request` for each, formatted in one loop (the gateway calls this once per loop
        iteration with the requests finished in it).
        """
        second = int(now)
        if second != self._second:
            self._set_second(second)
        # The time with its milliseconds, formatted once for the batch (a zero-padded %03d costs a string each).
        stamp = b"%s.%03d" % (self._stamp_bytes, int((now - second) * 1000))
        names, name, dumps = self._names, self._name, orjson.dumps
        lines = self._lines
        size = 0
        for exchange, seconds in finished:
            route = exchange.route_name or "-"
            principal = exchange.principal
            consumer = principal.consumer if principal is not None else None
            instance = exchange.instance
            upstream = instance.id if instance is not None else None
            span = exchange.span
            method, client_ip = exchange.method, exchange.client_ip
            values = (
                stamp,
                names.get(method) or name(method),
                dumps(exchange.path),
                exchange.status,
                seconds * 1000,
                names.get(route) or name(route),
                names.get(consumer) or name(consumer),
                names.get(client_ip) or name(client_ip),
                names.get(upstream) or name(upstream),
                exchange.attempt,
                dumps(exchange.correlation_id),
            )
            if span is not None:
                traceparent = span.traceparent  # b"00-<trace id>-<span id>-<flags>": the ids without encoding
                line = _REQUEST_LINE % (*values, traceparent[3:35], traceparent[36:52])
            else:
                line = _UNTRACED_LINE % values
            lines.append(line)
            size += len(line)
        self._size += size
        if self._size >= self.max_buffer:
            self.flush()

    def _append(self, line: bytes) -> None:
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.max_buffer:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines now."""
        if not self._lines:
            return
        data = b"".join(self._lines)
        self._lines.clear()
        self._size = 0
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(data)
            self.stream.flush()

    def start(self) -> None:
        """Start the periodic flush (owned by this log; :meth:`aclose` stops it)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="gateway-access-log")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            self.flush()

    async def aclose(self) -> None:
        """Stop flushing periodically and write what is left."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.flush()
