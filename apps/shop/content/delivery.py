"""Sending webhooks: claim due deliveries, POST them signed, retry with backoff, dead-letter after N failures.

Like the outbox relay, the loop reads its work from the database: a delivery is claimed with a lease (so two
replicas never send the same one at once), sent, then marked ``delivered``; a failure (connection error,
timeout, non-2xx) schedules the next try after an exponential backoff with jitter, and after
``max_attempts`` tries the row becomes ``dead`` — the dead-letter record, kept with its last error and listed
by ``GET /admin/webhooks/deliveries?status=dead``. Delivery is at least once: a receiver dedupes on
``X-Webhook-Id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from apps.shop.content.models import deliveries, webhooks
from baton.content.signing import signed_headers
from baton.errors import StoreError
from baton.kit.component import InstanceContext
from baton.kit.db import transaction

__all__ = ["DELIVERY_ID_HEADER", "EVENT_HEADER", "DeliveryPolicy", "WebhookDispatcher"]

log = logging.getLogger(__name__)

EVENT_HEADER = "X-Strapi-Event"
DELIVERY_ID_HEADER = "X-Webhook-Id"


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How webhooks are sent and retried."""

    max_attempts: int = 5
    """Tries of one delivery before it is dead-lettered."""
    initial_backoff: float = 1.0
    """Seconds before the first retry; doubles per try (with full jitter between half and all of it)."""
    max_backoff: float = 60.0
    """Longest pause between two tries, in seconds."""
    timeout: float = 10.0
    """Seconds one POST may take, connection included."""
    poll_interval: float = 0.2
    """Seconds between looks for due deliveries when there is nothing to do."""
    lease: float = 30.0
    """Seconds a claimed delivery stays claimed; longer than ``timeout`` so a slow send is not sent twice."""
    batch: int = 20
    """Deliveries claimed and sent concurrently per round."""
    secret: str = ""
    """HMAC secret of the signature header; empty sends unsigned (a real Strapi's behaviour)."""

    def backoff(self, attempts: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``attempts`` failed tries."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2.0 ** max(attempts - 1, 0))
        return float(ceiling * (0.5 + rng() / 2))


class WebhookDispatcher:
    """A :class:`~baton.kit.component.Component` that owns the webhook send loop."""

    name = "webhooks"

    def __init__(self, policy: Callable[[], DeliveryPolicy]) -> None:
        """``policy`` is read at start (settings are read once the instance runs)."""
        self._policy_of = policy
        self.policy = DeliveryPolicy()
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    async def start(self, ctx: InstanceContext) -> None:
        """Start the send loop."""
        self.policy = self._policy_of()
        self._sessions = ctx.sessions
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.policy.timeout))
        # Fresh events: an asyncio.Event binds to the loop that first waits on it, and tests start the hub again.
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="content-webhooks")

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    async def send_due(self, *, now: float | None = None) -> int:
        """Claim and send one batch of due deliveries; how many were delivered."""
        assert self._sessions is not None
        assert self._http is not None
        now = time.time() if now is None else now
        async with transaction(self._sessions) as session:
            claimed = await self._claim(session, now)
        results = await asyncio.gather(*(self._send(item) for item in claimed))
        async with transaction(self._sessions) as session:
            for item, error in zip(claimed, results, strict=True):
                await self._record(session, item, error)
        return sum(1 for error in results if error is None)

    async def _claim(self, session: AsyncSession, now: float) -> list[Any]:
        due = (
            await session.execute(
                select(deliveries, webhooks.c.url, webhooks.c.headers)
                .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
                .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
                .order_by(deliveries.c.next_attempt_at)
                .limit(self.policy.batch)
            )
        ).all()
        claimed = []
        for row in due:
            # Compare-and-set on the due time: another replica that claimed the row first moved it.
            result = await session.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id, deliveries.c.next_attempt_at == row.next_attempt_at)
                .values(next_attempt_at=now + self.policy.lease)
            )
            if getattr(result, "rowcount", 0) == 1:
                claimed.append(row)
        return claimed

    async def _send(self, item: Any) -> str | None:
        assert self._http is not None
        headers = {"Content-Type": "application/json", EVENT_HEADER: item.event, DELIVERY_ID_HEADER: item.id}
        headers.update({str(k): str(v) for k, v in (item.headers or {}).items()})
        if self.policy.secret:
            headers.update(signed_headers(self.policy.secret, item.payload))
        try:
            async with self._http.post(item.url, data=item.payload, headers=headers) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"

    async def _record(self, session: AsyncSession, item: Any, error: str | None) -> None:
        attempts = item.attempts + 1
        values: dict[str, Any] = {"attempts": attempts}
        if error is None:
            values.update(status="delivered", delivered_at=time.time(), last_error=None)
        elif attempts >= self.policy.max_attempts:
            values.update(status="dead", last_error=error)
            # The host only: a webhook's path and query often carry its secret.
            host = urlsplit(item.url).hostname
            log.warning("webhook delivery %s to %s dead after %d tries: %s", item.id, host, attempts, error)
        else:
            values.update(last_error=error, next_attempt_at=time.time() + self.policy.backoff(attempts))
        await session.execute(update(deliveries).where(deliveries.c.id == item.id).values(**values))

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if await self.send_due() >= self.policy.batch:
                    continue
            except StoreError as exc:
                log.warning("webhook dispatcher: %s", exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.policy.poll_interval):
                    await self._wake.wait()

    async def check(self) -> None:
        """Ready while the loop runs."""
        if self._task is None or self._task.done():
            raise StoreError("the webhook dispatcher is not running")

    async def drain(self) -> None:
        """Stop claiming new deliveries."""
        self._stopping.set()
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop and close the HTTP session."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            # Let a round in flight finish (its sends are bounded by the timeout) rather than cancel it mid-commit.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.policy.timeout + 1.0):
                    await asyncio.shield(self._task)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
