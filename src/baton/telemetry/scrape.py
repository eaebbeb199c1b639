"""The control plane's scraper: poll every instance's ``/metrics`` into a :class:`MetricWindow`.

::

    window = MetricWindow()
    scraper = Scraper(window, targets=lambda: [ScrapeTarget(i.url + "/metrics", {"instance": i.id}) ...])
    async with scraper.running():
        ...  # window fills every ``policy.interval`` seconds

Instances serving mutual TLS (``https`` targets) are scraped with the process's own leaf (the control plane's,
:func:`baton.security.wiring.instance_ssl`); ``/metrics`` needs no service token.

Targets are asked for on every round, so instances started or stopped by the supervisor are followed without
telling the scraper. Each round records ``up{<target labels>}`` (1 when the scrape succeeded, 0 otherwise), like
Prometheus, so the dashboard can tell "no traffic" from "no answer".
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import aiohttp
import anyio

from baton.errors import TelemetryError
from baton.telemetry.window import MetricWindow

__all__ = ["ScrapePolicy", "ScrapeTarget", "Scraper"]

_log = logging.getLogger("baton.telemetry.scrape")


@dataclass(frozen=True)
class ScrapeTarget:
    """One ``/metrics`` URL and the labels its samples get (``instance``, ``service``)."""

    url: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScrapePolicy:
    """How often and how patiently instances are scraped."""

    interval: float = 10.0
    """Seconds between rounds."""
    timeout: float = 3.0
    """Seconds one scrape may take before the target counts as down for this round."""
    max_body_bytes: int = 8 * 1024 * 1024
    """Largest exposition read from one target."""


class Scraper:
    """Polls the targets' ``/metrics`` into ``window``; one round at a time, targets concurrently."""

    def __init__(
        self,
        window: MetricWindow,
        targets: Callable[[], Iterable[ScrapeTarget]],
        *,
        policy: ScrapePolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self.targets = targets
        self.policy = policy or ScrapePolicy()
        self.clock = clock
        self.rounds = 0
        """Completed rounds (tests wait on it)."""

    async def scrape_once(self, session: aiohttp.ClientSession | None = None) -> dict[str, bool]:
        """Scrape every target once; return ``{url: succeeded}``."""
        if session is None:
            async with _instance_session() as own:
                return await self.scrape_once(own)
        targets = list(self.targets())
        results: dict[str, bool] = {}
        at = self.clock()

        async def one(target: ScrapeTarget) -> None:
            results[target.url] = await self._scrape(session, target, at)

        async with anyio.create_task_group() as group:
            for target in targets:
                group.start_soon(one, target)
        self.window.trim(at)
        self.rounds += 1
        return results

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Scraper]:
        """Scrape every ``policy.interval`` seconds in the background while the block runs."""
        async with _instance_session() as session, anyio.create_task_group() as group:
            group.start_soon(self._loop, session)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()

    async def _loop(self, session: aiohttp.ClientSession) -> None:
        while True:
            started = time.monotonic()
            await self.scrape_once(session)
            await anyio.sleep(max(0.0, self.policy.interval - (time.monotonic() - started)))

    async def _scrape(self, session: aiohttp.ClientSession, target: ScrapeTarget, at: float) -> bool:
        ok = False
        try:
            with anyio.fail_after(self.policy.timeout):
                async with session.get(target.url) as response:
                    if response.status == 200:
                        body = await response.content.read(self.policy.max_body_bytes)
                        self.window.ingest(body.decode("utf-8", "replace"), at=at, labels=target.labels)
                        ok = True
                    else:
                        _log.info("scrape of %s answered %s", target.url, response.status)
        except (aiohttp.ClientError, TimeoutError, OSError, TelemetryError) as exc:
            # A target going away is routine (restarts, scale-in); it shows as up=0, not as an error.
            _log.info("scrape of %s failed: %s", target.url, exc)
        self.window.add("up", target.labels, 1.0 if ok else 0.0, at=at, counter=False)
        return ok


def _instance_session() -> aiohttp.ClientSession:
    from baton.security.wiring import instance_ssl

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=instance_ssl()))
