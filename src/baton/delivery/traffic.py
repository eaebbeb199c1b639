"""Moving traffic between versions: the :class:`TrafficRouter` protocol and its backends.

* :class:`OverlayRouter` — writes the gateway's rollout overlay (:mod:`baton.gateway.overlay`) and waits until
  the gateway acknowledges the generation, so a weight change is *live* when :meth:`~TrafficRouter.route` returns;
* :class:`DiscoveryRouter` — publishes the split in discovery, so every caller's balancer sends the new version
  its share of the service-to-service calls too (:mod:`baton.balancing.tracks`), not only the gateway;
* :class:`FanOut` — several routers, in order (the control plane uses the overlay, then discovery);
* :class:`MemoryRouter` — remembers the splits (unit tests, systems without a gateway).

A :class:`TrafficSplit` says what one service's traffic should do; ``None`` removes the service from the overlay
(the route table is then the user's again).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from baton.control.home import atomic_write
from baton.errors import DeliveryError
from baton.gateway.overlay import OVERLAY_ACK, OVERLAY_FILE, Overlay, ServiceOverlay, read_overlay

__all__ = [
    "PREVIEW_HEADER",
    "TESTER_HEADER",
    "DiscoveryRouter",
    "FanOut",
    "MemoryRouter",
    "OverlayRouter",
    "TrafficRouter",
    "TrafficSplit",
    "preview_headers",
]

PREVIEW_HEADER = "x-baton-version"
"""Header a tester sends (value ``canary``) to be served by the new version…"""
TESTER_HEADER = "x-baton-preview"
"""…together with the rollout's secret tester token; without the token the header is ignored."""


def preview_headers(token: str) -> dict[str, str]:
    """The headers a tester sends to reach the new version through the gateway."""
    return {PREVIEW_HEADER: "canary", TESTER_HEADER: token}


def new_tester_token() -> str:
    """A fresh secret for one rollout's preview route."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class TrafficSplit:
    """``weight`` percent of one service's traffic to ``canary``, the rest to ``stable``."""

    stable: str
    canary: str | None = None
    weight: int = 0
    preview: Mapping[str, str] = field(default_factory=dict)
    """Headers forcing the new version (:func:`preview_headers`); empty: no preview route."""


class TrafficRouter(Protocol):
    """Applies traffic splits at the edge."""

    async def route(self, service: str, split: TrafficSplit | None) -> None:
        """Make ``split`` live for ``service`` (``None``: stop overriding its routes).

        Raises:
            DeliveryError: the edge did not take the change in time.
        """
        ...


class MemoryRouter:
    """Keeps the splits in a dict; ``history`` lists every change (tests read it)."""

    def __init__(self) -> None:
        self.splits: dict[str, TrafficSplit] = {}
        self.history: list[tuple[str, TrafficSplit | None]] = []

    async def route(self, service: str, split: TrafficSplit | None) -> None:
        """Record the change."""
        self.history.append((service, split))
        if split is None:
            self.splits.pop(service, None)
        else:
            self.splits[service] = split


class SplitPublisher(Protocol):
    """Where a service's traffic split goes for the callers inside the system (the supervisor's rotation)."""

    async def split(self, service: str, shares: Mapping[str, int] | None) -> None:
        """Publish ``{version: percent}`` for ``service`` (``None``: no split)."""
        ...


class DiscoveryRouter:
    """Publishes each split in discovery (:meth:`baton.control.rotation.Rotation.split`): east-west weights."""

    def __init__(self, publisher: SplitPublisher) -> None:
        self.publisher = publisher

    async def route(self, service: str, split: TrafficSplit | None) -> None:
        """Publish the version shares of ``split`` (the preview route is the gateway's business only)."""
        if split is None:
            await self.publisher.split(service, None)
            return
        shares = {split.stable: 100 - split.weight}
        if split.canary is not None and split.canary != split.stable:
            shares[split.canary] = split.weight
        await self.publisher.split(service, shares)


class FanOut:
    """Applies every change to each router in turn (the edge first: it is where the public traffic is)."""

    def __init__(self, *routers: TrafficRouter) -> None:
        self.routers = routers

    async def route(self, service: str, split: TrafficSplit | None) -> None:
        """Route ``split`` through every router."""
        for router in self.routers:
            await router.route(service, split)


class OverlayRouter:
    """Writes ``$BATON_HOME/gateway/overlay.json`` and waits for the gateway's acknowledgement."""

    def __init__(self, home: Path, *, wait: bool = True, timeout: float = 10.0, poll: float = 0.02) -> None:
        """Args:
        home: the system's data directory (the gateway instance gets the same ``BATON_HOME``).
        wait: wait for the acknowledgement (``False`` when the system has no gateway to acknowledge).
        timeout: seconds the gateway gets to apply a change.
        """
        self.path = home / OVERLAY_FILE
        self.ack = home / OVERLAY_ACK
        self.wait = wait
        self.timeout = timeout
        self.poll = poll

    def current(self) -> Overlay:
        """The overlay as written now (empty when there is none or it is unreadable)."""
        try:
            return read_overlay(self.path) or Overlay()
        except Exception:  # a damaged file is rewritten by the next change rather than blocking delivery
            return Overlay()

    def acknowledged(self) -> int:
        """The generation the gateway last acknowledged (-1 when it never did)."""
        try:
            return int(json.loads(self.ack.read_text())["generation"])
        except (OSError, ValueError, KeyError, TypeError):
            return -1

    async def route(self, service: str, split: TrafficSplit | None) -> None:
        """Write the change and (optionally) wait until the gateway serves it.

        Raises:
            DeliveryError: the gateway did not acknowledge within ``timeout`` seconds.
        """
        current = self.current()
        services = dict(current.services)
        if split is None:
            services.pop(service, None)
        else:
            services[service] = ServiceOverlay(
                stable=split.stable, canary=split.canary, weight=split.weight, preview=dict(split.preview)
            )
        # A generation above both the file's and the acknowledged one: a gateway restarted on an older
        # file must never look as if it had already applied this change.
        generation = max(current.generation, self.acknowledged()) + 1
        overlay = Overlay(generation=generation, services=services)
        # 0600: the preview route's tester token is in the file. Read, changed and written without yielding to the
        # loop (so two rollouts' changes need no lock), and above all with no await between the runner's decision,
        # which the API already shows, and the file: a kill -9 during a thread hop here could lose a weight the
        # operator had seen set, and the gateway would keep the previous one while nobody supervises.
        atomic_write(self.path, json.dumps(overlay.as_json(), indent=2), mode=0o600)
        if self.wait:
            await self._acknowledged(generation)

    async def _acknowledged(self, generation: int) -> None:
        deadline = time.monotonic() + self.timeout
        while self.acknowledged() < generation:
            if time.monotonic() > deadline:
                raise DeliveryError(
                    f"the gateway did not apply traffic change {generation} within {self.timeout:g}s "
                    f"(is it running with BATON_HOME={self.path.parent.parent}?)"
                )
            await asyncio.sleep(self.poll)

    def reset(self) -> None:
        """Remove the overlay entirely (nothing is being released)."""
        if self.path.exists():
            os.unlink(self.path)

    def keep(self, services: Collection[str]) -> None:
        """Drop every service but ``services`` from the overlay (without waiting for the gateway); no overlay left
        when none remains."""
        current = self.current()
        if not services or not current.services:
            self.reset()
            return
        kept = {name: entry for name, entry in current.services.items() if name in services}
        if kept == dict(current.services):
            return
        overlay = Overlay(generation=max(current.generation, self.acknowledged()) + 1, services=kept)
        atomic_write(self.path, json.dumps(overlay.as_json(), indent=2), mode=0o600)
