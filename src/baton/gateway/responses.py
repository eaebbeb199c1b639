"""Bytes on the wire: status lines, header blocks and RFC 9457 problem+json answers made by the gateway.

Everything here is precomputed or a single ``join``, because it runs on every request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus

import orjson

PROBLEM_JSON = b"application/problem+json"

STATUS_LINES: dict[int, bytes] = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
"""``HTTP/1.1 <code> <reason>\\r\\n`` for every known status."""

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)
"""Headers that describe one connection, never forwarded (RFC 9110 §7.6.1)."""

FRAMING = HOP_BY_HOP | {b"content-length", b"content-type"}
"""An upstream answer's headers the gateway writes itself (or drops), kept apart from the ones it passes on."""


class HeaderBlock(tuple[tuple[bytes, bytes], ...]):
    """``(name, value)`` header pairs that also carry their rendered block, for pairs many answers repeat.

    ``block`` is ``name: value\r\n`` for each pair: an answer's head takes it whole instead of formatting the
    pairs again (the ``RateLimit-*`` headers a rate limit memoises, say).
    """

    block: bytes

    def __new__(cls, pairs: Iterable[tuple[bytes, bytes]]) -> HeaderBlock:
        self = super().__new__(cls, pairs)
        self.block = b"".join(b"%s: %s\r\n" % pair for pair in self)
        return self


def status_line(status: int) -> bytes:
    """The status line for ``status`` (unknown codes get an empty reason)."""
    line = STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} \r\n".encode()


def render_head(status: int, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Status line plus header block, ending with the blank line."""
    parts = [status_line(status)]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A gateway-made answer that ends a request before (or instead of) the upstream: problem+json.

    Policies return these; rejections without per-request details are built once at config load.
    """

    status: int
    title: str
    detail: str = ""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    """Extra answer headers (``WWW-Authenticate``, ``Retry-After``, ``RateLimit-*``, ``Allow``)."""
    type: str = "about:blank"
    close: bool = False
    """Close the client connection after answering (e.g. a body that can no longer be trusted)."""

    def body(self, *, instance: str = "", correlation_id: str = "") -> bytes:
        """The problem+json document for this rejection."""
        doc: dict[str, object] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        if correlation_id:
            doc["correlation_id"] = correlation_id
        return orjson.dumps(doc)


def problem(status: int, detail: str = "", *, title: str | None = None, close: bool = False) -> Rejection:
    """A :class:`Rejection` whose title defaults to the status's reason phrase."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return Rejection(status=status, title=title or phrase, detail=detail, close=close)


def chunk(data: bytes) -> bytes:
    """One chunk of ``Transfer-Encoding: chunked``."""
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
