"""Quotas: requests per consumer per UTC day, persisted across restarts and shared between replicas.

Two sibling stores behind :class:`QuotaStore`:

* :class:`SqliteQuotaStore` (default): counters in memory, written behind to a SQLite file under
  ``BATON_HOME`` every second and on shutdown (a ``kill -9`` may lose up to one second of counts).
* :class:`RedisQuotaStore` (``BATON_GATEWAY_REDIS_URL``): one ``INCR`` per request through ``limits``' async
  Redis storage, so several gateway replicas share one count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol

from baton.errors import StoreError
from baton.gateway.config import QuotaConfig
from baton.gateway.policies.base import RequestInfo, Verdict
from baton.gateway.responses import Rejection

log = logging.getLogger("baton.gateway")

DAY = 86_400


def utc_day(now: float) -> int:
    """Days since the epoch (UTC) for a unix time."""
    return int(now // DAY)


class QuotaStore(Protocol):
    """Counts a consumer's requests per quota and day."""

    def hit(self, quota: str, consumer: str, day: int, limit: int) -> int | Awaitable[int]:
        """Count one request if it fits; return the count including it, or ``limit + 1`` when refused."""

    async def aclose(self) -> None:
        """Persist what is pending and release resources."""


class SqliteQuotaStore:
    """In-memory counters with write-behind to SQLite (one row per quota, consumer and day)."""

    def __init__(self, path: Path, *, flush_interval: float = 1.0) -> None:
        self.path = path
        self.flush_interval = flush_interval
        self._counts: dict[tuple[str, str, int], int] = {}
        self._dirty: set[tuple[str, str, int]] = set()
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS quota_usage (quota TEXT NOT NULL, consumer TEXT NOT NULL,"
                " day INTEGER NOT NULL, used INTEGER NOT NULL, PRIMARY KEY (quota, consumer, day))"
            )
            today = utc_day(time.time())
            db.execute("DELETE FROM quota_usage WHERE day < ?", (today - 1,))
            for quota, consumer, day, used in db.execute(
                "SELECT quota, consumer, day, used FROM quota_usage WHERE day >= ?", (today,)
            ):
                self._counts[(quota, consumer, day)] = used

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=5.0)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open quota database {self.path}: {exc}") from exc

    def hit(self, quota: str, consumer: str, day: int, limit: int) -> int:
        """Count one request (synchronously, in memory)."""
        key = (quota, consumer, day)
        used = self._counts.get(key, 0)
        if used >= limit:
            return limit + 1
        self._counts[key] = used + 1
        self._dirty.add(key)
        return used + 1

    def pending(self) -> list[tuple[str, str, int, int]]:
        """Take the changed counters as rows (call on the event loop's thread, where counters change)."""
        dirty, self._dirty = self._dirty, set()
        return [(q, c, d, self._counts[(q, c, d)]) for q, c, d in dirty]

    def write(self, rows: list[tuple[str, str, int, int]]) -> int:
        """Upsert ``rows`` (blocking; run in a thread). A row never lowers a stored count."""
        if not rows:
            return 0
        with self._lock, contextlib.closing(self._connect()) as db, db:
            db.executemany(
                "INSERT INTO quota_usage (quota, consumer, day, used) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (quota, consumer, day) DO UPDATE SET used = MAX(used, excluded.used)",
                rows,
            )
        return len(rows)

    def flush(self) -> int:
        """Write the changed counters now (blocking); returns how many rows were written."""
        return self.write(self.pending())

    def start(self) -> None:
        """Start the write-behind loop (owned by this store, stopped by :meth:`aclose`)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush_loop(), name="gateway-quota-flush")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            if self._dirty:
                await asyncio.to_thread(self.write, self.pending())

    async def aclose(self) -> None:
        """Stop the loop and write everything pending."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self.write, self.pending())


class RedisQuotaStore:
    """Counters in Redis via ``limits`` (``INCR`` with a two-day expiry per quota, consumer and day)."""

    def __init__(self, url: str) -> None:
        from limits.aio.storage import RedisStorage

        uri = url if url.startswith("async+") else "async+" + url
        self.storage = RedisStorage(uri, implementation="redispy", key_prefix="baton-gateway")

    async def _hit(self, quota: str, consumer: str, day: int, limit: int) -> int:
        try:
            return int(await self.storage.incr(f"quota/{quota}/{consumer}/{day}", 2 * DAY))
        except Exception as exc:
            raise StoreError(f"quota store unavailable: {exc}") from exc

    def hit(self, quota: str, consumer: str, day: int, limit: int) -> Awaitable[int]:
        """Count one request in Redis."""
        return self._hit(quota, consumer, day, limit)

    async def aclose(self) -> None:
        """Nothing pending: every hit is already in Redis."""


def _exceeded(limit: int, now: float) -> Rejection:
    seconds = max(1, math.ceil((utc_day(now) + 1) * DAY - now))
    return Rejection(
        status=429,
        title="Too Many Requests",
        detail=f"daily quota of {limit} requests used up",
        headers=(
            (b"retry-after", b"%d" % seconds),
            (b"ratelimit-limit", b"%d" % limit),
            (b"ratelimit-remaining", b"0"),
            (b"ratelimit-reset", b"%d" % seconds),
            (b"ratelimit-policy", b"%d;w=%d" % (limit, DAY)),
        ),
    )


class Quota:
    """Policy: each consumer (or anonymous address) gets ``per_day`` requests per UTC day on this quota."""

    name = "quota"

    def __init__(self, route_name: str, config: QuotaConfig, store: QuotaStore) -> None:
        self.quota = config.name or route_name
        self.limit = config.per_day
        self.store = store
        self._local = store if type(store) is SqliteQuotaStore else None
        """The SQLite store, whose in-memory counters the check updates inline (no call per request)."""
        self._day = 0
        self._day_start = self._day_end = 0.0
        """The UTC day last counted and its bounds: ``utc_day(now)`` is computed once a day, not per request."""

    def check(self, request: RequestInfo) -> Verdict | Awaitable[Verdict]:
        """Count the request; 429 with ``Retry-After`` (until UTC midnight) once the day's quota is used."""
        principal = request.principal
        who = principal.consumer if principal is not None else "ip:" + request.client_ip
        now = request.now
        local = self._local
        if local is not None:  # SqliteQuotaStore.hit, inline
            if self._day_start <= now < self._day_end:
                day = self._day
            else:  # the first request of a (UTC) day, or a clock that moved back: utc_day(now), inlined
                day = self._day = int(now // DAY)
                self._day_start = float(day * DAY)
                self._day_end = self._day_start + DAY
            key = (self.quota, who, day)
            counts = local._counts
            count = counts.get(key, 0)
            if count >= self.limit:
                return _exceeded(self.limit, now)
            counts[key] = count + 1
            local._dirty.add(key)
            return None
        used = self.store.hit(self.quota, who, int(now // DAY), self.limit)  # utc_day(now), inlined
        if isinstance(used, int):
            return None if used <= self.limit else _exceeded(self.limit, now)
        return self._judge(used, now)

    async def _judge(self, pending: Awaitable[int], now: float) -> Verdict:
        try:
            used = await pending
        except StoreError as exc:
            # Fail open: an unreachable counter store must not take the whole edge down (Kong's fault_tolerant).
            log.warning("quota not enforced: %s", exc)
            return None
        return None if used <= self.limit else _exceeded(self.limit, now)
