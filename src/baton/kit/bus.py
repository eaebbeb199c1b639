"""The instance's one NATS connection: named after the instance, reconnecting forever, logging its state."""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any

from baton._lazy import import_without
from baton.errors import BrokerUnavailable
from baton.kit.health import Check
from baton.telemetry.logging import get_logger

# nats-py loads aiohttp eagerly, only for its WebSocket transport (``ws://``); the instance's bus is ``nats://``,
# and aiohttp costs a service that calls no peer ~7 MB and 0.2 s of CPU at start. A process that imports aiohttp
# later (a :class:`~baton.client.ServiceClient`) gets it as usual; only nats' ``ws://`` support stays off.
import_without("nats.aio.transport", "aiohttp")

import nats  # noqa: E402 - after the import above, by design
from nats.aio.client import Client as NatsClient  # noqa: E402

__all__ = ["CONNECT_TIMEOUT", "bus_check", "connect_bus", "nats_tls"]

#: Seconds the first connection may take; after that the instance fails to start (the supervisor retries).
CONNECT_TIMEOUT = 10.0

_log = get_logger("baton.bus")


async def connect_bus(
    url: str, *, name: str, timeout: float | None = None, tls: ssl.SSLContext | None = None
) -> NatsClient:
    """Connect to NATS at ``url`` as ``name``; once connected, the client reconnects forever by itself.

    ``tls`` defaults, under a control plane running the embedded NATS (``BATON_NATS_TLS=1``), to the instance's
    client context expecting the server's identity ``spiffe://baton.local/svc/nats`` (renewed with its leaf).

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

    if tls is None:
        tls = nats_tls()
    options: dict[str, Any] = {"tls": tls, "tls_handshake_first": False} if tls is not None else {}
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
                **options,
            )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        await client.close()
        reason = "no connection within the timeout" if isinstance(exc, TimeoutError) else str(exc)
        raise BrokerUnavailable(f"cannot connect to NATS at {url}: {reason or type(exc).__name__}") from exc
    _log.info("bus connected", url=url)
    return client


def nats_tls() -> ssl.SSLContext | None:
    """The process's TLS context for NATS: when the control plane's server requires certificates
    (``BATON_NATS_TLS=1``, with ``BATON_TLS_DIR``); else ``None``."""
    if os.environ.get("BATON_NATS_TLS") != "1" or not os.environ.get("BATON_TLS_DIR"):
        return None
    from baton.security.wiring import NATS_SERVICE, InstanceSecurity

    security = InstanceSecurity.current()
    return security.client_context(NATS_SERVICE) if security is not None else None


def bus_check(client: NatsClient) -> Check:
    """A readiness check passing while ``client`` is connected."""

    async def bus() -> None:
        if not client.is_connected:
            raise BrokerUnavailable("not connected to NATS (reconnecting)")

    return bus
