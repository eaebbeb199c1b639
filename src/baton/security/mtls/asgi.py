"""Peer certificates in the ASGI scope: the ASGI TLS extension for uvicorn.

uvicorn does not publish TLS details to the app; this module's protocol does, following the ASGI TLS extension
(``scope["extensions"]["tls"]``: ``client_cert_chain``, ``tls_version``, ``cipher_suite``), plus the peer's
SPIFFE ID under ``spiffe_id`` (computed once per connection, not per request)::

    uvicorn.Config(app, **uvicorn_tls_options(server_context(...)))
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from baton.errors import SecurityError
from baton.security.spiffe import spiffe_id_of


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI ``tls`` extension of a connection (``None`` on plain TCP)."""
    ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    identity: str | None = None
    chain: list[str] = []
    if der is not None:
        chain.append(ssl.DER_cert_to_PEM_cert(der))
        try:
            identity = spiffe_id_of(der)
        except SecurityError:
            identity = None
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
        "cipher_name": cipher[0] if cipher else None,
        "spiffe_id": identity,
    }


# ASGI wants the TLS record-layer version numbers.
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class _CoalescingTransport:
    """Holds a response's first write (status line + headers) until the next one, so both go out together.

    uvicorn writes headers and body separately; over TLS each write costs its own record, encryption call and
    send, which for small answers is most of TLS's per-request price. The held bytes are flushed on the next
    write, on ``close`` or at the next loop iteration at the latest (streaming answers are not held back).
    """

    __slots__ = ("_flush_handle", "_held", "_seen_first", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._seen_first = False
        self._flush_handle: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        if not self._seen_first:
            self._seen_first = True
            self._held = data
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
            return
        if self._held is not None:
            data = self._held + data
            self._held = None
            if self._flush_handle is not None:
                self._flush_handle.cancel()
        self._transport.write(data)

    def _flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class TlsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, publishing the ``tls`` extension in every request's scope."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Remember the connection's TLS details (the handshake is complete by now)."""
        super().connection_made(transport)
        self._tls = tls_extension(transport)

    def on_message_begin(self) -> None:
        """Start a request's scope, with the ``tls`` extension."""
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}  # type: ignore[dict-item]  # uvicorn types it narrowly

    def on_headers_complete(self) -> None:
        """Create the request's cycle, writing through a :class:`_CoalescingTransport` when over TLS."""
        super().on_headers_complete()
        if self._tls is not None and self.cycle is not None:
            self.cycle.transport = _CoalescingTransport(self.transport)  # type: ignore[assignment]


def uvicorn_tls_options(context: ssl.SSLContext) -> dict[str, Any]:
    """``uvicorn.Config`` keyword arguments serving over ``context`` with the ``tls`` extension.

    The context object itself is handed to uvicorn (not files), so a renewer attached to it hot-swaps the
    listener's certificate.
    """

    def factory(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return context

    return {"ssl_context_factory": factory, "http": TlsHttpToolsProtocol}
