"""Watching a release live: scrape the service's instances (both versions) and analyse the new against the stable.

:class:`LiveAnalyzer` owns a small :class:`~baton.telemetry.window.MetricWindow` for one rollout and scrapes only
that service's instances, every time it is asked (the rollout's ``check_every``, ~1 s): the control plane's
observation loop scrapes every 10 s, far too coarse to roll a bad canary back within one interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import aiohttp

from baton.delivery.analysis import Analysis, MetricAnalyzer, Stats
from baton.delivery.fleet import Member
from baton.delivery.policy import AnalysisPolicy
from baton.telemetry.scrape import ScrapePolicy, Scraper, ScrapeTarget
from baton.telemetry.slo import SLO
from baton.telemetry.window import MetricWindow, WindowPolicy

__all__ = ["LiveAnalyzer"]


class LiveAnalyzer:
    """Scrapes ``members()`` on demand and judges the new version's instances against the stable ones."""

    def __init__(
        self,
        service: str,
        members: Callable[[], tuple[list[Member], list[Member]]],
        *,
        policy: AnalysisPolicy,
        slos: Sequence[SLO] = (),
        clock: Callable[[], float] = time.time,
        timeout: float = 2.0,
    ) -> None:
        self.service = service
        self.members = members
        self.clock = clock
        self.window = MetricWindow(WindowPolicy(retention=max(600.0, policy.interval * 4), max_samples=2_000))
        self.metrics = MetricAnalyzer(self.window, service=service, policy=policy, slos=slos)
        self.scraper = Scraper(
            self.window, self._targets, policy=ScrapePolicy(interval=policy.check_every, timeout=timeout), clock=clock
        )
        self._session: aiohttp.ClientSession | None = None

    def _targets(self) -> list[ScrapeTarget]:
        stable, new = self.members()
        return [ScrapeTarget(f"{m.url}/metrics", {"instance": m.id, "service": self.service}) for m in stable + new]

    async def scrape(self) -> float:
        """Scrape every instance once; the time of the scrape."""
        if self._session is None:
            from baton.security.wiring import instance_ssl  # the control plane's leaf when instances serve mTLS

            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=instance_ssl()))
        await self.scraper.scrape_once(self._session)
        return self.clock()

    async def analyse(self, *, over: float, now: float | None = None) -> Analysis:
        """Scrape, then compare the new version with the stable one over the last ``over`` seconds."""
        at = await self.scrape() if now is None else now
        stable, new = self.members()
        return self.metrics.compare([m.id for m in new], [m.id for m in stable], over=over, now=at)

    def new_version(self, *, over: float, now: float) -> Stats:
        """The new version's figures over the last ``over`` seconds (from what was scraped)."""
        return self.metrics.measure([m.id for m in self.members()[1]], over=over, now=now)

    async def aclose(self) -> None:
        """Close the scraping session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
