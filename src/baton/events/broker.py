"""Which NATS to use: the embedded server (started or reused) or an external URL; and how to connect to it.

::

    async with broker(home) as b:                       # embedded: .baton/nats, port 7722, monitoring 7723
        nc = await connect(b.url, name="control")
    async with broker(home, url="nats://nats:4222") as b:  # external: nothing is started
        ...
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nats
import nats.errors

from baton.errors import BrokerUnavailable
from baton.events.server import DEFAULT_MONITOR_PORT, DEFAULT_PORT, EmbeddedNats, NatsServerConfig

if TYPE_CHECKING:
    from nats.aio.client import Client as NatsClient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where the event broker is."""

    home: Path = Path(".baton")
    """Data directory; the embedded store is ``<home>/nats``."""
    url: str | None = None
    """External NATS URL (a cluster, say); ``None`` runs the embedded server."""
    port: int = DEFAULT_PORT
    """Client port of the embedded server."""
    monitor_port: int | None = DEFAULT_MONITOR_PORT
    """HTTP monitoring port of the embedded server; ``None`` disables it."""

    @property
    def embedded(self) -> bool:
        """Whether Baton runs (or reuses) its own server."""
        return self.url is None


@dataclass(frozen=True, slots=True)
class Broker:
    """A broker in use: its URL and, when embedded, the server object."""

    url: str
    server: EmbeddedNats | None = None

    @property
    def reused(self) -> bool:
        """Whether an embedded server was already running on the port (and is left running on exit)."""
        return self.server is not None and self.server.reused


@contextlib.asynccontextmanager
async def open_broker(config: BrokerConfig) -> AsyncIterator[Broker]:
    """Use the broker ``config`` describes; an embedded server started here is stopped on exit.

    Raises:
        ConfigError: the port is taken by something that is not NATS.
        BrokerUnavailable: the embedded server did not come up.
    """
    if config.url is not None:
        yield Broker(url=config.url)
        return
    server_config = NatsServerConfig(store_dir=config.home / "nats", port=config.port, monitor_port=config.monitor_port)
    async with EmbeddedNats(server_config) as server:
        yield Broker(url=server.url, server=server)


def broker(
    home: Path, url: str | None = None, *, port: int = DEFAULT_PORT, monitor_port: int | None = DEFAULT_MONITOR_PORT
) -> contextlib.AbstractAsyncContextManager[Broker]:
    """Shorthand for :func:`open_broker`: embedded under ``home`` unless ``url`` names an external NATS."""
    return open_broker(BrokerConfig(home=home, url=url, port=port, monitor_port=monitor_port))


async def connect(url: str, *, name: str = "baton", connect_timeout: float = 2.0) -> NatsClient:
    """Connect to NATS the way Baton needs: reconnect forever, quickly, and log connection changes.

    Raises:
        BrokerUnavailable: the first connection failed.
    """

    async def on_error(exc: Exception) -> None:
        log.warning("nats %s: %s", name, exc)

    async def on_disconnected() -> None:
        log.warning("nats %s: disconnected", name)

    async def on_reconnected() -> None:
        log.info("nats %s: reconnected", name)

    from baton.kit.bus import nats_tls

    tls = nats_tls()  # the instance's mTLS context under a control plane (BATON_TLS_DIR); else plain
    try:
        return await nats.connect(
            url,
            name=name,
            tls=tls,
            connect_timeout=connect_timeout,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
        )
    except (nats.errors.Error, OSError) as exc:
        raise BrokerUnavailable(f"cannot connect to NATS at {url}: {exc}") from exc
