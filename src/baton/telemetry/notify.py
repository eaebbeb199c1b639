"""Tell people about incidents: the ``Notifier`` protocol and its webhook backend.

The webhook POSTs one JSON document per incident change::

    {"event": "opened" | "alert_added" | "reopened" | "resolved", "incident": {...}, "sent_at": 1718000000.0}

Delivery is retried with exponential backoff on connection errors, timeouts and 5xx/429 answers; a 4xx answer
means the receiver refuses the payload and is not retried. A notification that cannot be delivered is logged and
reported as ``False`` — an unreachable chat service must never stop incidents from being tracked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import aiohttp

__all__ = ["MemoryNotifier", "Notifier", "WebhookNotifier", "WebhookPolicy"]

_log = logging.getLogger("baton.telemetry.notify")


@runtime_checkable
class Notifier(Protocol):
    """Delivers incident changes somewhere people look."""

    async def notify(self, event: str, incident: dict[str, Any]) -> bool:
        """Deliver one change; ``True`` when delivered."""


@dataclass(frozen=True)
class WebhookPolicy:
    """How hard a webhook delivery tries."""

    attempts: int = 4
    """Tries in total (first one included)."""
    backoff: float = 0.5
    """Seconds before the second try; doubled for each further try."""
    timeout: float = 5.0
    """Seconds one try may take."""


class WebhookNotifier:
    """POST incident changes as JSON to ``url``."""

    def __init__(
        self,
        url: str,
        *,
        policy: WebhookPolicy | None = None,
        headers: dict[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        # What the log names: the host only, a webhook's path and query often carry its secret.
        self._where = urlsplit(url).hostname or "?"
        self.policy = policy or WebhookPolicy()
        self.headers = headers or {}
        self._session = session

    async def notify(self, event: str, incident: dict[str, Any]) -> bool:
        """POST ``{"event", "incident", "sent_at"}``, retrying transient failures."""
        payload = {"event": event, "incident": incident, "sent_at": time.time()}
        if self._session is not None:
            return await self._deliver(self._session, payload)
        async with aiohttp.ClientSession() as session:
            return await self._deliver(session, payload)

    async def _deliver(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> bool:
        delay = self.policy.backoff
        for attempt in range(1, self.policy.attempts + 1):
            try:
                async with session.post(
                    self.url,
                    json=payload,
                    headers=self.headers,
                    timeout=aiohttp.ClientTimeout(total=self.policy.timeout),
                ) as response:
                    if response.status < 300:
                        return True
                    if 400 <= response.status < 500 and response.status != 429:
                        _log.warning("webhook %s refused the notification: %s", self._where, response.status)
                        return False
                    reason = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if attempt < self.policy.attempts:
                _log.info("webhook %s failed (%s), try %d of %d", self._where, reason, attempt, self.policy.attempts)
                await asyncio.sleep(delay)
                delay *= 2
        _log.warning("webhook %s undeliverable after %d tries: %s", self._where, self.policy.attempts, reason)
        return False


class MemoryNotifier:
    """Collects notifications in a list (tests)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def notify(self, event: str, incident: dict[str, Any]) -> bool:
        """Record the change."""
        self.sent.append((event, incident))
        return True
