"""The control plane's observation loop: scrape every instance, evaluate the SLOs, turn alerts into incidents.

One round, every :attr:`ObservePolicy.scrape_interval` seconds::

    supervisor views ─▶ Scraper.scrape_once ─▶ MetricWindow ─▶ SloEvaluator.tick ─▶ IncidentManager.observe
                                                                                    └▶ EventHub (SSE "tick")

The :class:`Observer` owns the window, the evaluator, the incident manager and the live-update hub; its loop is
one task inside :meth:`Observer.running`, so it ends with the block that started it. The API and the dashboard
read the same objects (:mod:`baton.control.observe_views` turns them into JSON).

``BATON_SLO_TIME_SCALE`` shrinks every burn-rate window and SLO window by the same factor (``0.001`` turns
the 1 h / 5 min page rule into 3.6 s / 0.3 s) so a demo or a test sees an alert fire and clear within seconds;
the burn-rate factors are unchanged, so the alerting logic is the production one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from baton.control.live import EventHub
from baton.control.manifest import Manifest
from baton.errors import ConfigError, StoreError
from baton.telemetry.alerts import Alert
from baton.telemetry.burn import SloEvaluator
from baton.telemetry.incident_store import IncidentStore, MemoryIncidentStore, SqliteIncidentStore
from baton.telemetry.incidents import Finder, Incident, IncidentManager, IncidentPolicy
from baton.telemetry.notify import Notifier, WebhookNotifier
from baton.telemetry.scrape import ScrapePolicy, Scraper, ScrapeTarget
from baton.telemetry.slo import DEFAULT_RULES, SLO, BurnRateRule, slos_from_mapping
from baton.telemetry.spans import SpanStore, TraceQuery
from baton.telemetry.window import MetricWindow, WindowPolicy

__all__ = ["ObservePolicy", "Observer", "incident_traces", "scaled_rules", "scaled_slos", "targets_of"]

log = logging.getLogger("baton.control.observe")


@dataclass(frozen=True)
class ObservePolicy:
    """How often the control plane looks, and how fast SLO time runs. Environment: ``BATON_SCRAPE_INTERVAL``,
    ``BATON_SCRAPE_TIMEOUT``, ``BATON_SLO_TIME_SCALE``, ``BATON_RED_WINDOW``."""

    scrape_interval: float = 10.0
    """Seconds between rounds (scrape, SLO evaluation, incidents, live update)."""
    scrape_timeout: float = 3.0
    """Seconds one instance's ``/metrics`` may take before it counts as down for the round."""
    time_scale: float = 1.0
    """Factor applied to every burn-rate window and SLO window (1.0 = real time; tests use ~0.001)."""
    red_window: float = 60.0
    """Seconds the dashboard's RED figures (rate, error ratio, p50/p99) are computed over."""
    sparkline_points: int = 30
    """Points of each RED sparkline; one per scrape interval."""
    retention: float = 3600.0
    """Seconds of raw samples kept per series (the SLO ledgers keep the long history)."""

    def __post_init__(self) -> None:
        if self.scrape_interval <= 0 or self.scrape_timeout <= 0 or self.red_window <= 0:
            raise ConfigError("observation intervals must be positive")
        if not 0 < self.time_scale <= 1:
            raise ConfigError(f"BATON_SLO_TIME_SCALE must be in (0, 1], got {self.time_scale}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ObservePolicy:
        """The policy from ``BATON_*`` variables, defaults for the unset ones.

        Raises:
            ConfigError: a variable is not a number, or out of range.
        """
        env = os.environ if environ is None else environ
        values: dict[str, float] = {}
        for name, variable in (
            ("scrape_interval", "BATON_SCRAPE_INTERVAL"),
            ("scrape_timeout", "BATON_SCRAPE_TIMEOUT"),
            ("time_scale", "BATON_SLO_TIME_SCALE"),
            ("red_window", "BATON_RED_WINDOW"),
        ):
            raw = env.get(variable)
            if raw:
                try:
                    values[name] = float(raw)
                except ValueError:
                    raise ConfigError(f"{variable} must be a number, got {raw!r}") from None
        return cls(
            scrape_interval=values.get("scrape_interval", cls.scrape_interval),
            scrape_timeout=values.get("scrape_timeout", cls.scrape_timeout),
            time_scale=values.get("time_scale", cls.time_scale),
            red_window=values.get("red_window", cls.red_window),
        )


def scaled_rules(scale: float, rules: Sequence[BurnRateRule] = DEFAULT_RULES) -> tuple[BurnRateRule, ...]:
    """``rules`` with both windows multiplied by ``scale`` (factors unchanged)."""
    return tuple(
        dataclasses.replace(r, long_window=r.long_window * scale, short_window=r.short_window * scale) for r in rules
    )


def scaled_slos(slos: Iterable[SLO], scale: float) -> list[SLO]:
    """``slos`` with their compliance window multiplied by ``scale``."""
    return [dataclasses.replace(s, window=s.window * scale) for s in slos]


def targets_of(views: Iterable[Mapping[str, Any]]) -> list[ScrapeTarget]:
    """Scrape targets of the supervisor's instance views: every instance with a live process."""
    return [
        ScrapeTarget(f"{v['url']}/metrics", {"instance": str(v["id"]), "service": str(v["service"])})
        for v in views
        if v.get("pid") and v.get("state") in ("running", "starting")
    ]


def incident_traces(store: SpanStore, slos: Sequence[SLO], *, lookback: float = 900.0, limit: int = 10) -> Finder:
    """A trace hook: recent failing traces of the incident's services, and slow ones for latency SLO alerts."""
    by_name = {s.name: s for s in slos}

    async def find(incident: Incident) -> list[str]:
        since = int((incident.opened_at - lookback) * 1e9)
        found: dict[str, int] = {}
        queries = [TraceQuery(service=s, error=True, since_ns=since, limit=limit) for s in incident.services]
        for alert in incident.alerts.values():
            slo = by_name.get(alert.labels.get("slo", ""))
            if slo is not None and slo.threshold is not None:
                queries.append(
                    TraceQuery(
                        service=slo.service, min_duration_ns=int(slo.threshold * 1e9), since_ns=since, limit=limit
                    )
                )
        for query in queries:
            for summary in await store.search(query):
                found[summary.trace_id] = summary.start_ns
        return sorted(found, key=lambda t: found[t], reverse=True)[:limit]

    return find


class Observer:
    """Scrapes, evaluates and groups (see the module docstring); read by the API and the dashboard."""

    def __init__(
        self,
        manifest: Manifest,
        targets: Callable[[], Iterable[ScrapeTarget]],
        *,
        incident_store: IncidentStore,
        span_store: SpanStore | None = None,
        policy: ObservePolicy | None = None,
        notifiers: Sequence[Notifier] | None = None,
        logs: Finder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.manifest = manifest
        self.policy = policy or ObservePolicy()
        self.clock = clock
        self.window = MetricWindow(WindowPolicy(retention=max(self.policy.retention, self.policy.red_window * 2)))
        self.scraper = Scraper(
            self.window,
            targets,
            policy=ScrapePolicy(interval=self.policy.scrape_interval, timeout=self.policy.scrape_timeout),
            clock=clock,
        )
        scale = self.policy.time_scale
        self.slos = scaled_slos(slos_from_mapping(manifest.slos), scale)
        self.evaluator = SloEvaluator(
            self.slos, self.window, rules=scaled_rules(scale), step=max(60.0 * scale, 0.01), clock=clock
        )
        if notifiers is None:
            webhook = manifest.alerting.webhook
            notifiers = [WebhookNotifier(webhook)] if webhook else []
        self.incident_store = incident_store
        self.incidents = IncidentManager(
            incident_store,
            notifiers=notifiers,
            policy=IncidentPolicy(resolve_hold=manifest.alerting.resolve_hold),
            traces=incident_traces(span_store, self.slos) if span_store is not None else None,
            logs=logs,
            clock=clock,
        )
        self.span_store = span_store
        self.hub = EventHub()
        self.rounds = 0
        """Completed observation rounds (tests wait on it)."""
        self.http: aiohttp.ClientSession | None = None
        """The session of the running loop, shared with the saga aggregation."""

    @classmethod
    def for_home(
        cls,
        manifest: Manifest,
        home: Path,
        targets: Callable[[], Iterable[ScrapeTarget]],
        *,
        span_store: SpanStore | None = None,
        policy: ObservePolicy | None = None,
        logs: Finder | None = None,
    ) -> Observer:
        """An observer keeping incidents in ``<home>/telemetry/incidents.db`` (in memory if that file is broken)."""
        store: IncidentStore
        try:
            store = SqliteIncidentStore(home / "telemetry" / "incidents.db")
        except StoreError as exc:  # a broken incident file must not keep the control plane down
            log.error("incident store unavailable, keeping incidents in memory: %s", exc)
            store = MemoryIncidentStore()
        return cls(manifest, targets, incident_store=store, span_store=span_store, policy=policy, logs=logs)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Observer]:
        """Observe every ``scrape_interval`` seconds while the block runs; close the hub and store after."""
        await self.incidents.load()
        from baton.security.wiring import instance_ssl  # the control plane's leaf when instances serve mTLS

        connector = aiohttp.TCPConnector(ssl=instance_ssl())
        async with aiohttp.ClientSession(connector=connector) as session, anyio.create_task_group() as group:
            self.http = session
            group.start_soon(self._loop, session)
            try:
                yield self
            finally:
                self.hub.close()
                group.cancel_scope.cancel()
                self.http = None
        closer = getattr(self.incident_store, "aclose", None)
        if closer is not None:
            await closer()

    async def observe_once(self, session: aiohttp.ClientSession) -> list[tuple[str, Incident]]:
        """One round: scrape, evaluate, fold alerts into incidents, publish; return the incident changes."""
        await self.scraper.scrape_once(session)
        now = self.clock()
        self.evaluator.tick(now)
        firing: list[Alert] = self.evaluator.firing()
        changes = await self.incidents.observe(firing, now)
        await self._late_traces(changes)
        self.rounds += 1
        for event, incident in changes:
            self.hub.publish("incident", {"event": event, "id": incident.id, "title": incident.title})
        self.hub.publish(
            "tick",
            {"at": now, "round": self.rounds, "firing": len(firing), "open": len(self.incidents.open_incidents())},
        )
        return changes

    async def _late_traces(self, changes: Sequence[tuple[str, Incident]]) -> None:
        # Instances export spans in batches, so the traces of the first slow or failing requests often land a few
        # seconds after the incident opened: look again on its later changes while it has none.
        finder = self.incidents.traces
        if finder is None:
            return
        for event, incident in changes:
            if event != "opened" and not incident.trace_ids:
                incident.trace_ids = (await finder(incident))[: self.incidents.policy.max_traces]
                if incident.trace_ids:
                    await self.incident_store.save(incident.as_dict())

    async def _loop(self, session: aiohttp.ClientSession) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.observe_once(session)
            except Exception:  # one bad round (a store error, a malformed exposition) must not end observation
                log.exception("observation round failed")
            await anyio.sleep(max(0.0, self.policy.scrape_interval - (time.monotonic() - started)))
