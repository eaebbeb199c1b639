"""Rollout overlay: the control plane's traffic weights and preview routes, laid over the gateway's route table.

The route table comes from the gateway's config (or the manifest's ``routes:``) and belongs to the user. During a
release the control plane (:mod:`baton.delivery.traffic`) writes ``$BATON_HOME/gateway/overlay.json``::

    {"generation": 7,
     "services": {"catalog": {"stable": "1.4.0", "canary": "1.5.0", "weight": 10,
                              "preview": {"x-baton-version": "canary", "x-baton-preview": "<secret>"}}}}

and :func:`apply_overlay` rewrites every route to that service into a weighted split between the two versions
(``weight`` percent to ``canary``), plus a *preview route* that sends requests carrying **all** the ``preview``
headers to the new version only. The secret header is what keeps outsiders out: a client sending just
``X-Baton-Version: canary`` matches no preview route and is served by the weighted one like everybody else.

:class:`OverlayGateway` watches both files and reloads when either changes; after each reload it writes the
applied generation to ``overlay.applied`` so the control plane knows when a weight change is live.
This module is the gateway's only hook for delivery; ``python -m baton.gateway`` runs :class:`OverlayGateway`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.errors import ConfigError
from baton.gateway.config import BackendConfig, GatewayConfig, MatchConfig, RouteConfig, load_config
from baton.gateway.gateway import Gateway, default_home

__all__ = [
    "OVERLAY_ACK",
    "OVERLAY_FILE",
    "Overlay",
    "OverlayGateway",
    "ServiceOverlay",
    "apply_overlay",
    "effective_config",
    "load_effective",
    "read_overlay",
]

log = logging.getLogger("baton.gateway.overlay")

OVERLAY_FILE = Path("gateway") / "overlay.json"
"""Where the control plane writes the overlay, relative to ``$BATON_HOME``."""
OVERLAY_ACK = Path("gateway") / "overlay.applied"
"""Where the gateway acknowledges the generation it serves, relative to ``$BATON_HOME``."""


@dataclass(frozen=True, slots=True)
class ServiceOverlay:
    """Traffic of one service during a release."""

    stable: str
    """Version that keeps ``100 - weight`` percent."""
    canary: str | None = None
    """New version taking ``weight`` percent (``None``: everything pinned to ``stable``)."""
    weight: int = 0
    preview: Mapping[str, str] = field(default_factory=dict)
    """Headers (lower-case name → exact value) that force the new version; empty: no preview route."""


@dataclass(frozen=True, slots=True)
class Overlay:
    """The whole overlay file."""

    generation: int = 0
    services: Mapping[str, ServiceOverlay] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Overlay:
        """Parse the file's mapping.

        Raises:
            ConfigError: a field is missing or of the wrong type.
        """
        try:
            services = {
                str(name): ServiceOverlay(
                    stable=str(entry["stable"]),
                    canary=None if entry.get("canary") is None else str(entry["canary"]),
                    weight=max(0, min(100, int(entry.get("weight", 0)))),
                    preview={str(k).lower(): str(v) for k, v in (entry.get("preview") or {}).items()},
                )
                for name, entry in (data.get("services") or {}).items()
            }
            return cls(generation=int(data.get("generation", 0)), services=services)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"invalid rollout overlay: {exc}") from exc

    def as_json(self) -> dict[str, Any]:
        """The file's mapping."""
        return {
            "generation": self.generation,
            "services": {
                name: {"stable": s.stable, "canary": s.canary, "weight": s.weight, "preview": dict(s.preview)}
                for name, s in self.services.items()
            },
        }


def read_overlay(path: Path) -> Overlay | None:
    """The overlay at ``path``; ``None`` when there is none.

    Raises:
        ConfigError: the file exists but is not a valid overlay.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the rollout overlay: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: the rollout overlay is not JSON: {exc}") from exc
    return Overlay.from_json(data)


def _split(backend: BackendConfig, entry: ServiceOverlay) -> list[BackendConfig]:
    if entry.canary is None or entry.weight <= 0:
        return [dataclasses.replace(backend, version=entry.stable)]
    if entry.weight >= 100:
        return [dataclasses.replace(backend, version=entry.canary)]
    return [
        dataclasses.replace(backend, version=entry.stable, weight=backend.weight * (100 - entry.weight)),
        dataclasses.replace(backend, version=entry.canary, weight=backend.weight * entry.weight),
    ]


def _overlaid(backend: BackendConfig, services: Mapping[str, ServiceOverlay]) -> ServiceOverlay | None:
    if backend.urls or backend.service is None:
        return None
    entry = services.get(backend.service)
    # A route pinned to some other version (an A/B route of the user's) is the user's business: leave it alone.
    if entry is None or (backend.version is not None and backend.version not in (entry.stable, entry.canary)):
        return None
    return entry


def apply_overlay(config: GatewayConfig, overlay: Overlay | None) -> GatewayConfig:
    """``config`` with the overlay's splits and preview routes (unchanged without an overlay)."""
    if overlay is None or not overlay.services:
        return config
    routes: list[RouteConfig] = []
    for route in config.routes:
        touched = [(b, _overlaid(b, overlay.services)) for b in route.backends]
        if all(entry is None for _, entry in touched):
            routes.append(route)
            continue
        # Split shares are in hundredths of the backend's weight; untouched backends scale alike to keep their ratio.
        backends = [
            nb
            for b, entry in touched
            for nb in ([dataclasses.replace(b, weight=b.weight * 100)] if entry is None else _split(b, entry))
        ]
        routes.append(dataclasses.replace(route, backends=tuple(backends)))
        for backend, entry in touched:
            if entry is None or entry.canary is None or not entry.preview:
                continue
            match = MatchConfig(headers={**route.match.headers, **entry.preview}, cookies=dict(route.match.cookies))
            preview_backend = dataclasses.replace(backend, version=entry.canary, weight=100)
            routes.append(
                dataclasses.replace(
                    route,
                    name=f"{route.name}~preview-{backend.service}",
                    match=match,
                    backends=(preview_backend,),
                )
            )
    return dataclasses.replace(config, routes=tuple(routes))


def effective_config(config_path: str | Path, home: Path | None = None) -> GatewayConfig:
    """The config at ``config_path`` with the overlay of ``home`` (``$BATON_HOME``) applied.

    Raises:
        ConfigError: the config or the overlay is invalid.
    """
    return load_effective(config_path, home)[0]


def load_effective(config_path: str | Path, home: Path | None = None) -> tuple[GatewayConfig, int]:
    """:func:`effective_config` and the overlay generation it includes (0 without an overlay).

    Raises:
        ConfigError: the config or the overlay is invalid.
    """
    base = load_config(config_path)
    overlay = read_overlay((home or default_home()) / OVERLAY_FILE)
    return apply_overlay(base, overlay), overlay.generation if overlay is not None else 0


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class OverlayGateway(Gateway):
    """A :class:`Gateway` that also follows the rollout overlay and acknowledges each generation it serves."""

    @property
    def overlay_path(self) -> Path:
        """``$BATON_HOME/gateway/overlay.json``."""
        return self.home / OVERLAY_FILE

    generation = 0
    """Overlay generation of the route table being served."""

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Start serving (with the overlay, when there is one) and acknowledge its generation."""
        overlay = read_overlay(self.overlay_path)
        if overlay is not None:
            self.config, self.generation = apply_overlay(self.config, overlay), overlay.generation
        await super().start(host, port)
        self._acknowledge()

    async def _watch_config(self) -> None:
        assert self.config_path is not None
        base, overlay = self.config_path, self.overlay_path
        seen = (_signature(base), _signature(overlay))
        while True:
            await asyncio.sleep(min(self.config.reload_interval, 0.25))
            current = (_signature(base), _signature(overlay))
            if current == seen or current[0] is None:
                continue
            seen = current
            try:
                config, generation = await asyncio.to_thread(load_effective, base, self.home)
                await self.reload(config)
                self.generation = generation
                self.last_reload_error = None
                self._acknowledge()
            except ConfigError as exc:
                # Keep serving the last good table: a typo must never take the edge down.
                self.last_reload_error = str(exc)
                log.error("gateway config not reloaded: %s", exc)

    def _acknowledge(self) -> None:
        generation = self.generation
        ack = self.home / OVERLAY_ACK
        try:
            ack.parent.mkdir(parents=True, exist_ok=True)
            tmp = ack.with_name(f".{ack.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"generation": generation, "pid": os.getpid()}))
            os.replace(tmp, ack)
        except OSError as exc:
            log.warning("cannot acknowledge overlay generation %s: %s", generation, exc)
