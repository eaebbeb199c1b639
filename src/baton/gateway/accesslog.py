"""JSON access logs: one object per request, buffered and flushed every 100 ms (nginx's ``buffer=``/``flush=``).

A ``write`` per request would cost a system call each; batching keeps the log on the hot path at one
``orjson.dumps``. Lines carry the fields every Baton log line has (time, level, service, correlation and
trace ids) plus the request's route, consumer, status and duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any, BinaryIO

import orjson


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
        self._task: asyncio.Task[None] | None = None

    def timestamp(self, now: float) -> str:
        """ISO-8601 UTC time with milliseconds, formatted once per second."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def write(self, record: dict[str, Any]) -> None:
        """Queue one record (flushed within ``flush_interval`` or when the buffer fills)."""
        line = orjson.dumps(record) + b"\n"
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
