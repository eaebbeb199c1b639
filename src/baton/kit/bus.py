"""The instance's one NATS connection: named after the instance, reconnecting forever, logging its state."""

from __future__ import annotations

import asyncio

import nats
from nats.aio.client import Client as NatsClient

from baton.errors import BrokerUnavailable
from baton.kit.health import Check
from baton.telemetry.logging import get_logger

__all__ = ["CONNECT_TIMEOUT", "bus_check", "connect_bus"]

#: Seconds the first connection may take; after that the instance fails to start (the supervisor retries).
CONNECT_TIMEOUT = 10.0

_log = get_logger("baton.bus")


async def connect_bus(url: str, *, name: str, timeout: float | None = None) -> NatsClient:
    """Connect to NATS at ``url`` as ``name``; once connected, the client reconnects forever by itself.

    Raises:
        BrokerUnavailable: no connection within ``timeout`` seconds (default :data:`CONNECT_TIMEOUT`).
    """
    timeout = CONNECT_TIMEOUT if timeout is None else timeout

    async def on_disconnected() -> None:
        _log.warning("bus disconnected", url=url)

    async def on_reconnected() -> None:
        _log.info("bus reconnected", url=url)

    async def on_error(exc: Exception) -> None:
        _log.warning("bus error", url=url, error=str(exc) or type(exc).__name__)

    async def on_closed() -> None:
        _log.info("bus connection closed", url=url)

    client = NatsClient()
    try:
        # With max_reconnect_attempts=-1 nats-py retries the *first* connect forever too; bound it here.
        async with asyncio.timeout(timeout):
            await client.connect(
                servers=[url],
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                connect_timeout=2,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                error_cb=on_error,
                closed_cb=on_closed,
            )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        await client.close()
        reason = "no connection within the timeout" if isinstance(exc, TimeoutError) else str(exc)
        raise BrokerUnavailable(f"cannot connect to NATS at {url}: {reason or type(exc).__name__}") from exc
    _log.info("bus connected", url=url)
    return client


def bus_check(client: NatsClient) -> Check:
    """A readiness check passing while ``client`` is connected."""

    async def bus() -> None:
        if not client.is_connected:
            raise BrokerUnavailable("not connected to NATS (reconnecting)")

    return bus
