"""Peer certificates in the ASGI scope: the ASGI TLS extension for uvicorn.

uvicorn does not publish TLS details to the app; this module's protocol does, following the ASGI TLS extension
(``scope["extensions"]["tls"]``: ``client_cert_chain``, ``tls_version``, ``cipher_suite``), plus the peer's
SPIFFE ID under ``spiffe_id`` (computed once per connection, not per request), and a dict per connection under
``baton.connection`` for middleware memos (:data:`~baton.security.tokens.middleware.CONNECTION_EXTENSION`)::

    uvicorn.Config(app, **uvicorn_tls_options(server_context(...)))
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from baton.errors import SecurityError
from baton.security.spiffe import spiffe_id_of
from baton.security.tokens.middleware import CONNECTION_EXTENSION


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
    """A connection's transport that holds a write until the next one, so a response's head and body go out together.

    uvicorn writes the status line and headers, then the body, separately; over TLS each write costs its own
    record, encryption call and send, which for small answers is most of TLS's per-request price. A write is
    held until the next write (both go out as one), ``close`` or the next loop iteration at the latest, so a
    streamed answer is never held back by more than one iteration. One per connection (not per request): it
    replaces the protocol's transport, and the methods uvicorn calls per request are the transport's own.
    """

    __slots__ = ("_call_soon", "_flush_handle", "_held", "_transport", "_write", "get_extra_info", "is_closing")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._flush_handle: asyncio.Handle | None = None
        # Bound methods of the real transport and loop: no attribute chain on the per-response path, and no
        # Python frame on uvicorn's per-request is_closing().
        self._write = transport.write
        self._call_soon = loop.call_soon
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            # Held as bytes: a caller may reuse its buffer once write() returns.
            self._held = data if type(data) is bytes else bytes(data)
            self._flush_handle = self._call_soon(self._flush)
            return
        self._held = None
        self._flush_handle.cancel()  # type: ignore[union-attr]  # set whenever a write is held
        self._write(held + data)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(chunks))

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._write(held)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    # The rest of asyncio's transport API, spelt out: a ``__getattr__`` fallback would put a Python hook on
    # every attribute read of this object, including the per-request ``write`` and ``is_closing``.

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held is not None else 0)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)


class TlsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, publishing the ``tls`` extension in every request's scope."""

    _tls: dict[str, Any] | None = None
    _connection: dict[Any, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Remember the connection's TLS details (the handshake is complete by now); coalesce its writes."""
        super().connection_made(transport)
        self._tls = tls_extension(transport)
        if self._tls is not None:
            self._connection = {}
            # Flow control keeps the real transport (uvicorn built it above); everything else writes through.
            self.transport = _CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def on_message_begin(self) -> None:
        """Start a request's scope (uvicorn's own), with the ``tls`` extension."""
        HttpToolsProtocol.on_message_begin(self)  # not super(): no proxy object per request
        if self._tls is not None:
            extensions = {"tls": self._tls, CONNECTION_EXTENSION: self._connection}
            self.scope["extensions"] = extensions  # type: ignore[typeddict-item]  # uvicorn types it narrowly


def uvicorn_tls_options(context: ssl.SSLContext) -> dict[str, Any]:
    """``uvicorn.Config`` keyword arguments serving over ``context`` with the ``tls`` extension.

    The context object itself is handed to uvicorn (not files), so a renewer attached to it hot-swaps the
    listener's certificate.
    """

    def factory(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return context

    return {"ssl_context_factory": factory, "http": TlsHttpToolsProtocol}
