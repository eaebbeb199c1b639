"""HTTP health probes (``/livez``, ``/readyz``) over one pooled aiohttp session.

Instances serving mutual TLS are probed with the control plane's own leaf (``spiffe://baton.local/svc/control``).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import aiohttp


class Prober(Protocol):
    """Answers "what status does this URL return?"; ``None`` when nothing answered in time."""

    async def status(self, url: str, *, timeout: float) -> int | None:
        """HTTP status of a GET to ``url``, or ``None`` on connection failure or timeout."""


class HttpProber:
    """:class:`Prober` over a shared aiohttp session (created lazily, closed by :meth:`aclose`)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def status(self, url: str, *, timeout: float) -> int | None:
        """HTTP status of a GET to ``url``, or ``None`` when it could not be obtained."""
        import aiohttp  # on first probe: keeps aiohttp off the daemon's start-up path

        if self._session is None:
            # No keep-alive: probing must not pin a connection an instance would have to drain on shutdown.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True, limit=0, ssl=_instance_ssl()),
                headers={"User-Agent": "baton-control/probe"},
            )
        try:
            async with self._session.get(
                url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
            ) as response:
                return response.status
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None

    async def aclose(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _instance_ssl() -> ssl.SSLContext | bool:
    from baton.control.launch import tls_enabled

    if not tls_enabled():
        return True
    from baton.security.wiring import instance_ssl

    return instance_ssl()
